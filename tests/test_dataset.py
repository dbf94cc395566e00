"""Tokenised training data: the end-of-turn token is always learned, padding never hides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.prompt import render_prompt
from intentforge.train.dataset import (
    IGNORE_INDEX,
    collate,
    encode_rows,
    length_batches,
    prompt_ids,
    refused_words,
)
from tiny_model import TRAIN_ROWS


@pytest.fixture(scope="module")
def tokenizer(tiny_base: Path):  # SmolLM2's tokenizer: pad == eos == <|im_end|>
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


def _encode(tokenizer, rows, max_length=96):
    catalogue = load_catalogue([], [], builtin=True)
    return encode_rows(
        rows, tokenizer=tokenizer, catalogue=catalogue, end_of_turn="<|im_end|>",
        max_length=max_length,
    )  # fmt: skip


def test_smollm2_pads_with_its_end_of_turn_token(tokenizer) -> None:
    # The hazard this module guards against is real for the default base.
    assert (
        tokenizer.pad_token_id
        == tokenizer.eos_token_id
        == tokenizer.convert_tokens_to_ids("<|im_end|>")
    )


def test_labels_cover_the_completion_and_keep_end_of_turn_despite_pad_equal_eos(tokenizer) -> None:
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    examples = _encode(tokenizer, TRAIN_ROWS[:6]).examples
    batch = collate(examples, pad_id=tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    assert len({len(e) for e in examples}) > 1, "rows of different lengths are needed for padding"
    for row, example in enumerate(examples):
        n, p = len(example), example.prompt_len
        labels = batch["labels"][row].tolist()
        assert labels[:p] == [IGNORE_INDEX] * p  # no loss on the prompt
        assert labels[p:n] == list(example.input_ids[p:])  # loss on every completion token
        assert labels[n - 1] == eot  # ... including the end-of-turn token
        assert labels[n:] == [IGNORE_INDEX] * (width - n)  # none on padding
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
    # The padding value equals EOS here, so masks must come from lengths: the EOS inside each
    # sequence is attended to and labelled, the identical pad ids after it are not.
    assert (batch["input_ids"] == eot).sum() > len(examples)


def test_completion_is_the_canonical_json_then_end_of_turn(tokenizer) -> None:
    example = _encode(tokenizer, [TRAIN_ROWS[1]]).examples[0]
    completion = tokenizer.decode(list(example.input_ids[example.prompt_len :]))
    assert (
        completion
        == '{"intent":"add_task","parameters":{"content":"call mum","due":"tomorrow"}}<|im_end|>'
    )


def test_prompt_ids_are_the_serving_prompt_alone(tokenizer) -> None:
    example = _encode(tokenizer, [TRAIN_ROWS[0]]).examples[0]
    ids = prompt_ids(tokenizer, TRAIN_ROWS[0]["text"])
    assert list(example.input_ids[: example.prompt_len]) == ids
    assert tokenizer.decode(ids) == render_prompt(TRAIN_ROWS[0]["text"])


def test_rows_longer_than_max_length_are_dropped_not_truncated(tokenizer) -> None:
    split = _encode(tokenizer, TRAIN_ROWS, max_length=32)
    assert split.dropped_too_long > 0
    assert split.examples and all(len(e) <= 32 for e in split.examples)
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert all(e.input_ids[-1] == eot for e in split.examples)


def test_priority_is_learned_as_said_and_rows_that_do_not_say_it_are_dropped(tokenizer) -> None:
    said = {"text": "Call mum, HIGH priority", "intent": "add_task",
            "parameters": {"content": "Call mum", "priority": 2}}  # fmt: skip
    unsaid = {**said, "text": "Call mum"}
    split = _encode(tokenizer, [said, unsaid, TRAIN_ROWS[0]])
    assert (len(split.examples), split.dropped_unsaid, split.dropped_too_long) == (2, 1, 0)
    example = split.examples[0]
    completion = tokenizer.decode(list(example.input_ids[example.prompt_len :]))
    assert completion == (
        '{"intent":"add_task","parameters":{"content":"Call mum","priority":"HIGH priority"}}'
        "<|im_end|>"
    )


def test_length_batches_cover_every_row_once_and_group_similar_lengths(tokenizer) -> None:
    examples = _encode(tokenizer, TRAIN_ROWS * 8).examples
    batches = length_batches(examples, batch_size=8, seed=1, epoch=0)
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(len(examples)))
    spread = max(
        max(len(examples[i]) for i in b) - min(len(examples[i]) for i in b) for b in batches
    )
    assert spread < max(len(e) for e in examples) - min(len(e) for e in examples)
    assert batches != length_batches(
        examples, batch_size=8, seed=1, epoch=1
    )  # reshuffled per epoch
    assert batches == length_batches(examples, batch_size=8, seed=1, epoch=0)  # deterministic


def test_a_row_of_several_calls_is_learned_as_its_calls_one_per_line(tokenizer) -> None:
    row = {
        "id": "m1",
        "text": "add milk to my list and what's the weather in paris",
        "intent": "add_task",
        "parameters": {"content": "milk"},
        "calls": [
            {"intent": "add_task", "parameters": {"content": "milk"}},
            {"intent": "get_weather", "parameters": {"location": "paris"}},
        ],
        "source": "templates",
    }
    example = _encode(tokenizer, [row]).examples[0]
    completion = tokenizer.decode(list(example.input_ids[example.prompt_len :]))
    assert completion == (
        '{"intent":"add_task","parameters":{"content":"milk"}}\n'
        '{"intent":"get_weather","parameters":{"location":"paris"}}<|im_end|>'
    )


def test_an_out_of_scope_call_is_learned_with_the_words_it_refuses(tokenizer) -> None:
    joined = {
        "id": "m2",
        "text": "Turn on the lights  and add bread to my list",
        "intent": "none",
        "parameters": {},
        "calls": [
            {"intent": "none", "parameters": {}},
            {"intent": "add_task", "parameters": {"content": "bread"}},
        ],
        "parts": ["Turn on the lights", "add bread to my list"],
        "source": "templates",
    }
    alone = {"id": "n1", "text": " tell me  a joke ", "intent": "none", "parameters": {}}
    unknown = {**joined, "id": "m3", "parts": None}  # joined elsewhere: the part is not known
    text = "Turn on the lights and add bread to my list"
    assert refused_words(joined, text) == ["Turn on the lights", None]
    assert refused_words(alone, "tell me a joke") == ["tell me a joke"]
    assert refused_words(unknown, text) == [None, None]
    assert refused_words({**joined, "parts": ["turn off the tv", "x"]}, text) == [None, None]

    completions = [
        tokenizer.decode(list(e.input_ids[e.prompt_len :]))
        for e in _encode(tokenizer, [joined, alone, unknown]).examples
    ]
    assert completions == [
        '{"intent":"none","parameters":{"said":"Turn on the lights"}}\n'
        '{"intent":"add_task","parameters":{"content":"bread"}}<|im_end|>',
        '{"intent":"none","parameters":{"said":"tell me a joke"}}<|im_end|>',
        '{"intent":"none","parameters":{}}\n'
        '{"intent":"add_task","parameters":{"content":"bread"}}<|im_end|>',
    ]
