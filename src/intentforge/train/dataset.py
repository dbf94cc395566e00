"""Dataset rows -> token ids, labels and length-bucketed batches for causal-LM fine-tuning.

The prompt is tokenised alone, exactly as the server will tokenise it, and the completion after it,
so the ids the model is trained on are the ids it meets at serving time. Labels and attention come
from lengths, never from comparing ids with the pad id: SmolLM2 ships pad == eos == `<|im_end|>`,
and masking "pad" ids would hide the very token that teaches the model to stop.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue
from intentforge.data.jsonl import row_calls
from intentforge.errors import IntentforgeError
from intentforge.prompt import normalise_text, prompt_token_ids, render_completion

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
# Batches are sorted by length within pools of this many batches: little padding, still shuffled.
_BUCKET_POOL_BATCHES = 32


@dataclass(frozen=True)
class Example:
    """One training sequence: prompt ids then completion ids (which end with end-of-turn)."""

    input_ids: tuple[int, ...]
    prompt_len: int

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class EncodedSplit:
    examples: list[Example]
    dropped_too_long: int
    # Rows with a spoken slot (priority) whose value the text does not say in a known way: the
    # model could not copy it.
    dropped_unsaid: int = 0


def prompt_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of the prompt for `text`, with the special tokens the base adds (BOS or none):
    the template's markers as special tokens, the request as plain text, as the engine's
    `prompt_tokens` produces them with llama.cpp (prompt.prompt_token_ids)."""

    def encode(piece: str, special: bool, first: bool) -> list[int]:
        encoded = tokenizer(piece, add_special_tokens=first, split_special_tokens=not special)
        return list(encoded["input_ids"])

    return prompt_token_ids(text, encode)


def completion_ids(
    tokenizer: PreTrainedTokenizerBase, answer_json: str, end_of_turn: str
) -> list[int]:
    """Token ids of the answer; the last one is the end-of-turn token."""
    ids = list(
        tokenizer(render_completion(answer_json, end_of_turn), add_special_tokens=False)[
            "input_ids"
        ]
    )
    eot_id = tokenizer.convert_tokens_to_ids(end_of_turn)
    if not ids or ids[-1] != eot_id:
        raise IntentforgeError(
            f"the tokenizer does not encode {end_of_turn!r} as one token: the model could not stop"
        )
    return ids


def encode_rows(
    rows: Sequence[dict[str, Any]],
    *,
    tokenizer: PreTrainedTokenizerBase,
    catalogue: Catalogue,
    end_of_turn: str,
    max_length: int,
) -> EncodedSplit:
    """Tokenise rows; rows longer than `max_length` are dropped (truncating would cut the
    end-of-turn token off and teach the model not to stop), and so are rows whose spoken slot the
    text does not say."""
    examples = []
    dropped = unsaid = 0
    for row in rows:
        calls = [catalogue.validate(c) for c in row_calls(row)]
        text = normalise_text(str(row["text"]))
        try:
            answer = catalogue.render_calls(calls, text, refused_words(row, text))
        except IntentforgeError:
            unsaid += 1
            continue
        prompt = prompt_ids(tokenizer, str(row["text"]))
        ids = prompt + completion_ids(tokenizer, answer, end_of_turn)
        if len(ids) > max_length:
            dropped += 1
            continue
        examples.append(Example(tuple(ids), len(prompt)))
    return EncodedSplit(examples, dropped, unsaid)


def refused_words(row: Mapping[str, Any], text: str) -> list[str | None]:
    """Per call of `row`, the words of `text` it refuses when it is out of scope: the whole
    request for a one-call row, the call's part for a joined row that records its `parts`; None
    where they are unknown (the call is then written without them)."""
    calls = row_calls(row)
    parts = row.get("parts") or ([text] if len(calls) == 1 else [None] * len(calls))
    words: list[str | None] = []
    for call, part in zip(calls, parts, strict=True):
        said = normalise_text(part) if part else ""
        refused = call["intent"] == OUT_OF_SCOPE and said and said in text
        words.append(said if refused else None)
    return words


def length_batches(
    examples: Sequence[Example], *, batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    """Index batches for one epoch: shuffled, then sorted by length inside pools so that a batch
    holds sequences of similar length (padding is compute for nothing on CPU)."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = batch_size * _BUCKET_POOL_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(examples[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors; attention and labels are built from lengths, not from ids."""
    import torch

    width = max(len(e) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example)
        ids = torch.tensor(example.input_ids, dtype=torch.long)
        input_ids[row, :n] = ids
        attention[row, :n] = 1
        labels[row, example.prompt_len : n] = ids[example.prompt_len :]
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
