"""LoRA fine-tuning (QLoRA on CUDA) in a small explicit loop: resumable, measured, loss on answers.

Why not transformers' Trainer: on 2 CPU cores every padded token and every logit costs time, so the
loop batches by length and computes the vocabulary projection only where there is a label to
predict (about half the positions). A checkpoint (adapter, optimiser, scheduler, RNG, position in
the epoch) is written every `save_every_steps` and after an epoch's eval; a killed run resumes.

The run directory and checkpoints are `train/checkpoint.py`'s; what is trained (LoRA or every
weight) and its optimiser are `train/trainable.py`'s.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intentforge.catalogue import Catalogue
from intentforge.config import TrainConfig
from intentforge.data.jsonl import read_dataset, read_jsonl
from intentforge.errors import IntentforgeError
from intentforge.train.checkpoint import (
    load_checkpoint,
    prepare_run_dir,
    run_dir_for,
    run_record,
    save_checkpoint,
    truncate_metrics,
)
from intentforge.train.dataset import (
    IGNORE_INDEX,
    EncodedSplit,
    Example,
    collate,
    encode_rows,
    length_batches,
)
from intentforge.train.models import (
    end_of_turn_token,
    load_tokenizer,
    resolve_base,
    weights_dir,
)
from intentforge.train.trainable import make_optimizer, prepare_model

if TYPE_CHECKING:
    import torch
    from rich.progress import Progress
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    adapter_dir: Path
    steps: int
    train_loss: float
    eval_loss: float | None
    eval_losses: list[float]
    train_seconds: float
    resumed_from_step: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["adapter_dir"] = str(self.adapter_dir)
        return data


def pick_device(preference: str) -> str:
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise IntentforgeError("device cuda was requested but torch sees no CUDA GPU")
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


def train(
    config: TrainConfig,
    *,
    catalogue: Catalogue,
    train_path: Path,
    test_path: Path | None,
    name: str | None = None,
    restart: bool = False,
    progress: Progress | None = None,
) -> TrainResult:
    """Fine-tune `config.base` on `train_path`, evaluating on `test_path` after every epoch.

    Resumes from the run's last checkpoint when its config and data are unchanged; `restart`
    discards an existing run of the same name.
    """
    import torch

    run_dir = run_dir_for(config, name)
    base = resolve_base(config.base, cache_dir=config.cache_dir)
    tokenizer = load_tokenizer(base)
    end_of_turn = end_of_turn_token(tokenizer)
    train_split = _encode(train_path, tokenizer, catalogue, end_of_turn, config.max_length)
    test_split = (
        _encode(test_path, tokenizer, catalogue, end_of_turn, config.max_length)
        if test_path is not None
        else None
    )
    record = run_record(config, base, end_of_turn, train_path, test_path, train_split, test_split)
    prepare_run_dir(run_dir, record, restart)

    device = pick_device(config.device)
    if config.threads is not None:
        # Threads beyond the cores actually free spin at every barrier: on a shared machine a
        # step measured 3-7x slower with 2 threads than with 1.
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = prepare_model(config, base, device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(config, trainable, device)
    batches_per_epoch = math.ceil(len(train_split.examples) / config.batch_size)
    total_steps = math.ceil(config.epochs * batches_per_epoch)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        _warmup_linear_decay(total_steps, max(1, round(total_steps * config.warmup_ratio))),
    )
    pad_id = _pad_id(tokenizer)

    state = load_checkpoint(run_dir, model, optimizer, scheduler)
    step, epoch, next_batch = state["step"], state["epoch"], state["next_batch"]
    eval_losses: list[float] = list(state["eval_losses"])
    resumed_from = saved_step = step
    truncate_metrics(run_dir / "metrics.jsonl", step)
    started = time.monotonic()
    elapsed_before = float(state["elapsed_s"])

    task = None
    if progress is not None:
        task = progress.add_task("train", total=total_steps, completed=step)

    def checkpoint() -> None:
        """Save the loop's current position (step, epoch, batch) so a killed run resumes here."""
        save_checkpoint(
            run_dir,
            model,
            optimizer,
            scheduler,
            step=step,
            epoch=epoch,
            next_batch=next_batch,
            eval_losses=eval_losses,
            elapsed_s=elapsed_before + time.monotonic() - started,
        )

    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as metrics:
        while step < total_steps:
            batches = length_batches(
                train_split.examples, batch_size=config.batch_size, seed=config.seed, epoch=epoch
            )
            model.train()
            while next_batch < len(batches) and step < total_steps:
                batch = collate(
                    [train_split.examples[i] for i in batches[next_batch]], pad_id=pad_id
                )
                loss = completion_loss(model, batch, device)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                next_batch += 1
                value = float(loss.detach())
                _log(
                    metrics,
                    step=step,
                    epoch=round(epoch + next_batch / len(batches), 4),
                    loss=round(value, 5),
                    lr=scheduler.get_last_lr()[0],
                    elapsed_s=round(elapsed_before + time.monotonic() - started, 2),
                )
                if progress is not None and task is not None:
                    progress.update(task, completed=step, description=f"train loss {value:.3f}")
                epoch_done = next_batch == len(batches) or step == total_steps
                if not epoch_done and step % config.save_every_steps == 0:
                    saved_step = step
                    checkpoint()
            if test_split is not None and test_split.examples:
                eval_loss = evaluate_loss(
                    model,
                    test_split.examples,
                    batch_size=config.batch_size * 2,
                    pad_id=pad_id,
                    device=device,
                    progress=progress,
                )
                eval_losses.append(eval_loss)
                _log(metrics, step=step, epoch=epoch + 1, eval_loss=round(eval_loss, 5))
            epoch, next_batch = epoch + 1, 0
            if step - saved_step < config.save_every_steps and step < total_steps:
                continue
            saved_step = step
            checkpoint()

    # LoRA: the adapter alone (merge adds it to the base); full fine-tuning: the whole model.
    adapter_dir = weights_dir(config, run_dir)
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    result = TrainResult(
        run_dir=run_dir,
        adapter_dir=adapter_dir,
        steps=step,
        train_loss=_last_epoch_loss(run_dir / "metrics.jsonl", batches_per_epoch),
        eval_loss=round(eval_losses[-1], 5) if eval_losses else None,
        eval_losses=[round(v, 5) for v in eval_losses],
        train_seconds=round(elapsed_before + time.monotonic() - started, 2),
        resumed_from_step=resumed_from,
    )
    (run_dir / "summary.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def completion_loss(
    model: PreTrainedModel, batch: dict[str, torch.Tensor], device: str
) -> torch.Tensor:
    """Mean cross-entropy over completion tokens (end-of-turn included), not prompts or padding.

    Logits are computed only from the first position that predicts a completion token on, which
    skips the vocabulary projection (49 k columns for SmolLM2) over most prompt positions.
    """
    import torch
    import torch.nn.functional as F

    labels = batch["labels"].to(device)
    has_label = (labels != IGNORE_INDEX).any(dim=0)
    first_label = int(torch.nonzero(has_label)[0])
    keep = labels.shape[1] - (first_label - 1)
    out = model(
        input_ids=batch["input_ids"].to(device),
        attention_mask=batch["attention_mask"].to(device),
        logits_to_keep=keep,
        use_cache=False,
    )
    logits = out.logits  # positions first_label-1 .. end; position p predicts token p+1
    targets = torch.cat(
        [labels[:, first_label:], torch.full_like(labels[:, :1], IGNORE_INDEX)], dim=1
    )
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX
    )


def evaluate_loss(
    model: PreTrainedModel,
    examples: list[Example],
    *,
    batch_size: int,
    pad_id: int,
    device: str,
    progress: Progress | None = None,
) -> float:
    """Token-weighted mean completion loss over `examples`."""
    import torch

    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]))
    total, count = 0.0, 0
    task = progress.add_task("eval", total=len(order)) if progress is not None else None
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = [examples[i] for i in order[start : start + batch_size]]
            batch = collate(chunk, pad_id=pad_id)
            n = int((batch["labels"] != IGNORE_INDEX).sum())
            total += float(completion_loss(model, batch, device)) * n
            count += n
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
    if progress is not None and task is not None:
        progress.remove_task(task)
    model.train()
    return total / max(count, 1)


def _encode(
    path: Path,
    tokenizer: PreTrainedTokenizerBase,
    catalogue: Catalogue,
    end_of_turn: str,
    max_length: int,
) -> EncodedSplit:
    split = encode_rows(
        read_dataset(path, catalogue),
        tokenizer=tokenizer,
        catalogue=catalogue,
        end_of_turn=end_of_turn,
        max_length=max_length,
    )
    if not split.examples:
        raise IntentforgeError(
            f"no row of {path} can be trained on: {split.dropped_too_long} are longer than "
            f"max_length={max_length} tokens (raise --max-length), {split.dropped_unsaid} give a "
            "spoken slot (priority) the text does not say"
        )
    return split


def _pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    # Padding is masked by attention and labels built from lengths, so its id only has to exist.
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return int(pad if pad is not None else 0)


def _warmup_linear_decay(total_steps: int, warmup_steps: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        remaining = max(total_steps - warmup_steps, 1)
        return max(0.0, (total_steps - step) / remaining)

    return factor


def _log(metrics: Any, **fields: Any) -> None:
    metrics.write(json.dumps(fields) + "\n")
    metrics.flush()


def _last_epoch_loss(path: Path, steps: int) -> float:
    """Mean training loss over the last `steps` logged steps (read back: a resumed run's too)."""
    losses = [entry["loss"] for entry in read_jsonl(path) if "loss" in entry][-steps:]
    return round(sum(losses) / len(losses), 5) if losses else math.nan
