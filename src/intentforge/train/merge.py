"""Merge a run's LoRA adapter into its base and save a plain safetensors model + tokenizer.

The merge happens in float32 on the CPU whatever the training device was: the merged weights are
what the GGUF converter reads, and a 4-bit base cannot take the adapter's deltas exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from intentforge.errors import IntentforgeError
from intentforge.train.checkpoint import read_run_config
from intentforge.train.models import ResolvedBase, load_model, load_tokenizer, resolve_base


def merge(run_dir: Path, *, out_dir: Path | None = None, cache_dir: Path) -> Path:
    """Merge `run_dir/adapter` into the run's base; return the directory of the merged model
    (default `run_dir/merged`)."""
    from peft import PeftModel

    record = read_run_config(run_dir)
    adapter_dir = run_dir / "adapter"
    full_dir = run_dir / "model"  # written instead of an adapter by full fine-tuning (lora: false)
    out_dir = out_dir or run_dir / "merged"
    base = resolve_base(record["base"]["name"], cache_dir=cache_dir)
    tokenizer = load_tokenizer(base)
    if (adapter_dir / "adapter_config.json").is_file():
        model = load_model(base, device="cpu")
        merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    elif (full_dir / "config.json").is_file():
        merged = load_model(ResolvedBase(name=str(full_dir), source=str(full_dir)), device="cpu")
    else:
        raise IntentforgeError(
            f"no adapter in {adapter_dir}: finish training first (`intentforge train` resumes)"
        )

    end_of_turn = record["end_of_turn"]
    eot_id = tokenizer.convert_tokens_to_ids(end_of_turn)
    # The fine-tune ends every answer with `end_of_turn`: make it the EOS that generation (and the
    # GGUF converter, which copies it into the file's metadata) stops on.
    merged.config.eos_token_id = eot_id
    if merged.generation_config is not None:
        merged.generation_config.eos_token_id = eot_id
    tokenizer.eos_token = end_of_turn

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "intentforge-merge.json").write_text(
        json.dumps({"run": str(run_dir), "base": record["base"]["name"]}, indent=2) + "\n"
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir
