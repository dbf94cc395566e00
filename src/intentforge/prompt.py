"""The one prompt format, shared by training and serving so their token ids are identical.

Minimal on purpose: the fine-tuned model knows its task, so every prompt token spent on
instructions is latency for nothing. ChatML markers are special tokens in SmolLM2's vocabulary
(one token each); for bases without them they are plain text, which training teaches just as well.
"""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")

PROMPT_TEMPLATE = "<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


def normalise_text(text: str) -> str:
    """The request as the model sees it: whitespace collapsed, ends trimmed."""
    return _WHITESPACE.sub(" ", text).strip()


def render_prompt(text: str) -> str:
    """The prompt for one request; the model's answer follows it directly."""
    return PROMPT_TEMPLATE.format(text=normalise_text(text))


def render_completion(answer_json: str, end_of_turn: str) -> str:
    """What training teaches the model to write: the canonical JSON, then its end-of-turn token."""
    return answer_json + end_of_turn
