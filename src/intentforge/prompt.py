"""The one prompt format, shared by training and serving so their token ids are identical.

Minimal on purpose: the fine-tuned model knows its task, so every prompt token spent on
instructions is latency for nothing. ChatML markers are special tokens in SmolLM2's vocabulary
(one token each); for bases without them they are plain text, which training teaches just as well.

Only the template's own markers may become special tokens. The request is tokenized with special
parsing off, so a user who types `<|im_end|>` gets those characters read as words, not an ended
turn and a forged answer. Tokenizers split their input at special tokens before anything else,
so for ordinary text the pieces give exactly the ids the whole prompt gave.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_WHITESPACE = re.compile(r"\s+")

PROMPT_TEMPLATE = "<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
CHAT_MARKERS = ("<|im_start|>", "<|im_end|>")
_MARKER = re.compile("(" + "|".join(re.escape(m) for m in CHAT_MARKERS) + ")")

# (text, special, first) -> token ids: `special` lets markers become special tokens, `first` adds
# the tokenizer's own leading tokens (BOS, where the base wants one).
Encode = Callable[[str, bool, bool], list[int]]


def normalise_text(text: str) -> str:
    """The request as the model sees it: whitespace collapsed, ends trimmed."""
    return _WHITESPACE.sub(" ", text).strip()


def render_prompt(text: str) -> str:
    """The prompt for one request as text; tokenize it with `prompt_token_ids`, never whole."""
    return PROMPT_TEMPLATE.format(text=normalise_text(text))


def prompt_pieces(text: str) -> list[tuple[str, bool]]:
    """The prompt for `text` as (piece, is_marker) in order: each template marker alone, and the
    plain text between two markers as one piece (the request joined to the template's words
    around it, as the whole prompt tokenized before)."""
    before, after = PROMPT_TEMPLATE.split("{text}")
    pieces: list[tuple[str, bool]] = []
    for piece, marker in [*_template(before), (normalise_text(text), False), *_template(after)]:
        if pieces and not marker and not pieces[-1][1]:
            pieces[-1] = (pieces[-1][0] + piece, False)
        elif piece:
            pieces.append((piece, marker))
    return pieces


def _template(part: str) -> list[tuple[str, bool]]:
    return [(piece, piece in CHAT_MARKERS) for piece in _MARKER.split(part) if piece]


def prompt_token_ids(text: str, encode: Encode) -> list[int]:
    """Token ids of the prompt for `text`: markers with special parsing on, everything else off,
    the first piece with the tokenizer's leading tokens. Training and serving both call this."""
    ids: list[int] = []
    for number, (piece, marker) in enumerate(prompt_pieces(text)):
        ids += encode(piece, marker, number == 0)
    return ids


def render_completion(answer_json: str, end_of_turn: str) -> str:
    """What training teaches the model to write: the canonical JSON, then its end-of-turn token."""
    return answer_json + end_of_turn
