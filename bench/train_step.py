"""Training step time and peak memory of the default config (smollm2-135m on the CPU).

    .venv/bin/python bench/train_step.py [--data build/data/train.jsonl] [--steps 8]

Prints the core count, tokens per step, seconds per step (median after one warm-up step), the
projected time of one epoch over the data, and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import torch

from intentforge.catalogue import load_catalogue
from intentforge.config import TrainConfig, load_settings
from intentforge.data.jsonl import read_dataset
from intentforge.train.dataset import collate, encode_rows, length_batches
from intentforge.train.models import end_of_turn_token, load_tokenizer, resolve_base, uses_lora
from intentforge.train.train import completion_loss
from intentforge.train.trainable import learning_rate, make_optimizer, prepare_model


def _what_trains(config: TrainConfig) -> str:
    if uses_lora(config):
        return f"LoRA r={config.rank} alpha={config.alpha} modules={config.target_modules}"
    frozen = ["embeddings"] if config.freeze_embeddings else []
    if config.freeze_layers:
        frozen.append(f"first {config.freeze_layers} blocks")
    return "every weight" + (f" but the {' and '.join(frozen)}" if frozen else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("build/data/train.jsonl"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--base", default=None, help="Base model (default: the configured one).")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads.")
    args = parser.parse_args()

    settings = load_settings(None, {"train": {"base": args.base, "device": "cpu"}})
    config = settings.train
    if args.threads:
        torch.set_num_threads(args.threads)
    catalogue = load_catalogue([], [], builtin=True)
    started = time.monotonic()
    base = resolve_base(config.base, cache_dir=config.cache_dir)
    tokenizer = load_tokenizer(base)
    model = prepare_model(config, base, "cpu")
    load_s = time.monotonic() - started
    split = encode_rows(
        read_dataset(args.data, catalogue), tokenizer=tokenizer, catalogue=catalogue,
        end_of_turn=end_of_turn_token(tokenizer), max_length=config.max_length,
    )  # fmt: skip
    examples = split.examples
    batches = length_batches(examples, batch_size=config.batch_size, seed=config.seed, epoch=0)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(config, trainable, "cpu")
    model.train()
    times, tokens = [], []
    pad = tokenizer.pad_token_id or 0
    for batch_ids in batches[: args.steps + 1]:
        batch = collate([examples[i] for i in batch_ids], pad_id=pad)
        t0 = time.monotonic()
        loss = completion_loss(model, batch, "cpu")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.monotonic() - t0)
        tokens.append(int(batch["attention_mask"].sum()))
    step_s = statistics.median(times[1:])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mean_len = sum(len(e) for e in examples) / len(examples)
    print(f"cores: {os.cpu_count()}  torch threads: {torch.get_num_threads()}")
    print(
        f"base: {config.base}  {_what_trains(config)}  batch {config.batch_size}  "
        f"lr {learning_rate(config):g}"
    )
    print(f"load (tokenizer + model): {load_s:.1f} s")
    print(
        f"rows: {len(examples)}  mean tokens/row: {mean_len:.1f}  "
        f"dropped (> {config.max_length} tokens): {split.dropped_too_long}"
    )
    print(f"tokens/step (median): {statistics.median(tokens[1:]):.0f}")
    print(f"step: median {step_s:.2f} s  min {min(times[1:]):.2f} s  max {max(times[1:]):.2f} s")
    print(f"projected epoch: {step_s * len(batches) / 60:.1f} min ({len(batches)} steps)")
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
