"""A fine-tuned model stops by itself, in transformers and in llama.cpp, on identical prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.prompt import render_prompt
from intentforge.train.dataset import prompt_ids
from tiny_model import FIT_ROWS

MAX_NEW_TOKENS = 48


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue([], [], builtin=True)


@pytest.fixture(scope="module")
def llama(tiny_gguf: Path):
    from llama_cpp import Llama

    model = Llama(str(tiny_gguf), n_ctx=256, n_threads=1, verbose=False, seed=0)
    yield model
    model.close()


def test_train_and_serve_prompts_are_the_same_token_ids(tiny_merged: Path, llama) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_merged)
    for row in FIT_ROWS:
        served = llama.tokenize(render_prompt(row["text"]).encode(), add_bos=True, special=True)
        assert prompt_ids(tokenizer, row["text"]) == served


def test_fine_tuned_model_ends_with_eos_by_itself_in_transformers(
    tiny_merged: Path, catalogue
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_merged)
    model = AutoModelForCausalLM.from_pretrained(tiny_merged).eval()
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert model.generation_config.eos_token_id == eos
    for row in FIT_ROWS:
        ids = torch.tensor([prompt_ids(tokenizer, row["text"])])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        generated = out[0, ids.shape[1] :].tolist()
        assert generated[-1] == eos, f"no EOS for {row['text']!r}: {tokenizer.decode(generated)!r}"
        answer = tokenizer.decode(generated[:-1])
        assert catalogue.validate(answer).to_dict() == {
            "intent": row["intent"], "parameters": row["parameters"],
        }  # fmt: skip


def test_exported_gguf_stops_by_itself_in_llama_cpp(llama, catalogue) -> None:
    for row in FIT_ROWS:
        out = llama.create_completion(
            render_prompt(row["text"]), max_tokens=MAX_NEW_TOKENS, temperature=0.0
        )
        choice = out["choices"][0]
        assert choice["finish_reason"] == "stop", f"ran on for {row['text']!r}: {choice['text']!r}"
        assert catalogue.validate(choice["text"]).intent == row["intent"]
