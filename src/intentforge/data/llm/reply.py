"""From an LLM's reply to ledger rows: read the JSON, then keep only rows fit to train on."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.errors import IntentforgeError

MAX_TEXT_CHARS = 300


class InvalidRow(ValueError):
    """A returned row that must not be written; the message is a short reason for the report."""


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def parse_rows(content: str | None) -> list[Any]:
    """The list of rows in a reply: `{"rows": [...]}` or a bare list, code fences tolerated."""
    if not content:
        raise ValueError("empty reply")
    text = _FENCE.sub("", content.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not JSON ({exc.msg})") from None
    if isinstance(data, dict):
        data = data.get("rows")
    if not isinstance(data, list):
        raise ValueError('reply has no "rows" list')
    return data


def check_row(catalogue: Catalogue, intent_name: str, raw: Any) -> dict[str, Any]:
    """A ledger row from one returned row, or InvalidRow saying why it must be dropped.

    Slot values must be spans of the text: a value that differs from its span only in letter case
    takes the span's spelling, so the training target copies exactly what was heard.
    """
    if not isinstance(raw, dict):
        raise InvalidRow("row is not an object")
    text = raw.get("text")
    if not isinstance(text, str):
        raise InvalidRow("no text")
    text = " ".join(text.split())
    if len(text) < 2 or len(text) > MAX_TEXT_CHARS or not any(c.isalpha() for c in text):
        raise InvalidRow("text empty, too long or without words")
    if any(c in _MARKUP for c in text):
        raise InvalidRow("text has markup or {slot} placeholders")
    if raw.get("intent", intent_name) != intent_name:
        raise InvalidRow("intent differs from the one asked for")
    try:
        call = catalogue.validate({"intent": intent_name, "parameters": raw.get("parameters")})
    except IntentforgeError:
        raise InvalidRow("parameters violate the schema") from None
    if catalogue.missing(call):  # asked for rows that say every required slot
        raise InvalidRow("a required slot is missing")
    intent = catalogue[intent_name]
    parameters: dict[str, Any] = {}
    for slot in intent.slots:
        if slot not in call.parameters:
            continue
        value = call.parameters[slot]
        if isinstance(value, str):
            if not any(c.isalnum() for c in value):
                raise InvalidRow("slot value without words")
            value = _span(text, " ".join(value.split()))
            if value is None:
                raise InvalidRow("slot value is not a span of the text")
        table = catalogue.spoken(intent_name, slot)
        if table is not None and table.find(text, value) is None:
            raise InvalidRow(f"the text does not say the {slot} in a known way")
        parameters[slot] = value
    return {
        "id": "llm-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
        "text": text,
        "intent": intent_name,
        "parameters": parameters,
        "source": "llm",
        "style": observed_style(text),
    }


def observed_style(text: str) -> str:
    """The speech-to-text look of `text`, named as the template generator names its styles."""
    if text == text.lower() and not any(c in _PUNCTUATION for c in text):
        return "lower"
    if text[0].isupper() and text[-1] in ".?!":
        return "whisper"
    return "typed"


_PUNCTUATION = frozenset(".,?!;:")
# Speech-to-text never writes these; in a text they are template or markdown leftovers.
_MARKUP = frozenset("{}[]<>|*#`\\")


def _span(text: str, value: str) -> str | None:
    if value in text:
        return value
    lowered = text.lower()
    if len(lowered) != len(text):  # lower() changed lengths: offsets would not line up
        return None
    start = lowered.find(value.lower())
    return text[start : start + len(value)] if start >= 0 else None
