"""A follow-up turn: the answer to an incomplete call's question fills the slot it asked for.

"send an email" asks "Who should I send it to?"; the answer ("to anna", "anna", "it's for my
boss") is the recipient, said on its own. The words that only lead into it ("to", "it's for",
"send it to") and fillers ("um", "please") are cut, and what is left fills the slot as said, a
span of the answer like every text slot the model copies; the actions resolve it as usual (a
contact name to an address, a date to ISO 8601).

No second model call: the intent is already decided, and the model was taught whole requests,
not fragments ("anna" alone is no request). Re-parsing "send an email" + "anna" as one sentence
would ask the model to understand a sentence nobody says, and could lose what the first turn got.
An answer that does not fit the slot (a word for a number) leaves it missing, so it is asked again.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from intentforge.catalogue import Catalogue, Intent, IntentCall
from intentforge.catalogue.kinds import TENS, UNITS
from intentforge.errors import IntentforgeError

# An answer that drops the question: nothing is done.
CANCEL_PHRASES = frozenset((
    "cancel", "cancel that", "cancel it", "never mind", "nevermind", "forget it", "forget about it",
    "stop", "nothing", "no", "nobody", "no one", "none",
))  # fmt: skip

# Words that lead into an answer and are not part of it, cut from its start (repeatedly: "um, to
# anna"); longest first, so "send it to" goes before "to".
_LEADS = (
    "send it to", "send that to", "send this to", "email it to", "mail it to", "address it to",
    "write to", "it goes to", "it's going to", "it is going to", "it should go to",
    "it's for", "it is for", "it's to", "it is to", "that's for", "that is for",
    "add", "put", "remind me to", "i need to", "i have to", "i want to",
    "it's", "it is", "that's", "that is", "make it", "the answer is",
    "to", "for",
)  # fmt: skip
_FILLERS = ("um", "uh", "er", "erm", "hmm", "oh", "ok", "okay", "so", "well", "yes", "yeah")
_LEAD = re.compile(
    r"^(?:(?:" + "|".join(re.escape(w) for w in (*_LEADS, *_FILLERS)) + r")\b[\s,.:;!-]*)+",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"[\s,.!?;:]*(?:\b(?:please|thanks|thank you)\b[\s,.!?]*)*$", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")


def is_cancel(answer: str) -> bool:
    """Whether `answer` drops the question ("never mind") instead of answering it."""
    return _bare(answer).casefold() in CANCEL_PHRASES


def fill(catalogue: Catalogue, call: IntentCall, slot: str, answer: str) -> IntentCall:
    """`call` with `slot` filled from `answer`, or `call` unchanged when the answer does not fit
    the slot (it stays missing and is asked again)."""
    value = answer_value(catalogue[call.intent], slot, answer)
    if value is None:
        return call
    try:
        return catalogue.validate(
            {"intent": call.intent, "parameters": {**call.parameters, slot: value}}
        )
    except IntentforgeError:  # "banana" for a temperature: not an answer
        return call


def answer_value(intent: Intent, slot: str, answer: str) -> Any:
    """What `answer` says for `slot`: the words without their lead-in; for a number slot the
    first number said (digits or words); for a slot with fixed choices the choice named. None
    when it says nothing usable."""
    text = _bare(answer)
    if not text:
        return None
    choices, kind = _schema_of(intent, slot)
    if choices:
        named = [c for c in choices if re.search(rf"\b{re.escape(str(c))}\b", text, re.I)]
        return max(named, key=lambda c: len(str(c))) if named else None
    if kind in (int, float):
        return _first_number(text)
    return text


def _bare(answer: str) -> str:
    """The answer without lead-in words, fillers and trailing politeness."""
    text = answer.strip()
    before = None
    while before != text:  # "please, um, to anna": each pass cuts what the last one uncovered
        before = text
        text = _TRAIL.sub("", _LEAD.sub("", text)).strip()
        text = re.sub(r"^please\b[\s,]*", "", text, flags=re.IGNORECASE)
    return text


def _schema_of(intent: Intent, slot: str) -> tuple[tuple[Any, ...], type | None]:
    """(the fixed choices of a Literal slot, else (); the slot's plain type)."""
    annotation = intent.parameters.model_fields[slot].annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else str
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation), None
    return (), annotation if isinstance(annotation, type) else None


def _first_number(text: str) -> str | None:
    """The first number in `text` as digits: "21 degrees" -> "21", "twenty one" -> "21"."""
    found = _NUMBER.search(text)
    words = [w.strip(",.!?") for w in text.casefold().replace("-", " ").split()]
    for i, word in enumerate(words):
        if word in UNITS:
            return str(UNITS.index(word))
        if word in TENS:
            unit = words[i + 1] if i + 1 < len(words) else ""
            ones = UNITS.index(unit) if unit in UNITS[1:10] else 0
            return str(10 * TENS.index(word) + ones)
        if found is not None and found.group(0).lstrip("-") in word:
            break
    return found.group(0).replace(",", ".") if found is not None else None
