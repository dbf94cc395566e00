"""Merging: the merged model computes what base + adapter computed, and saves like any model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.errors import IntentforgeError
from intentforge.train.merge import merge
from intentforge.train.train import train
from tiny_model import tiny_train_config


def test_merged_lora_model_matches_base_plus_adapter(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = tiny_train_config(tmp_path / "runs", tiny_base, max_steps=3, learning_rate=2e-2)
    catalogue = load_catalogue([], [], builtin=True)
    result = train(config, catalogue=catalogue, train_path=tiny_dataset[0], test_path=None)
    merged_dir = merge(result.run_dir, cache_dir=tmp_path / "cache")

    assert merged_dir == result.run_dir / "merged"
    assert (merged_dir / "model.safetensors").is_file()
    assert (merged_dir / "tokenizer.json").is_file()
    saved = json.loads((merged_dir / "config.json").read_text())
    assert "quantization_config" not in saved
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    assert tokenizer.eos_token == "<|im_end|>"

    ids = torch.tensor([tokenizer("<|im_start|>user\nbuy milk<|im_end|>\n").input_ids])
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_base), result.adapter_dir
    ).eval()
    plain_base = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    with torch.no_grad():
        want = with_adapter(ids).logits
        assert torch.allclose(merged(ids).logits, want, atol=1e-4)
        assert not torch.allclose(plain_base(ids).logits, want, atol=1e-3)  # the adapter mattered


def test_full_fine_tune_run_merges_to_its_trained_model(tiny_merged: Path) -> None:
    assert (tiny_merged / "model.safetensors").is_file()
    record = json.loads((tiny_merged / "intentforge-merge.json").read_text())
    assert record["base"]


def test_merge_before_training_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(IntentforgeError, match="intentforge train"):
        merge(tmp_path / "no-run", cache_dir=tmp_path)
