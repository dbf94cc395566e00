"""What the runtime does to a validated call before answering: one ordered pipeline of named steps.

Every step has the signature `step(answer, context) -> answer` and finds what a slot holds in the
catalogue (`Intent.slot_kind`), never by its name. They run in this order, each one the
`runtime.postprocess` setting leaves enabled:

0. `name_lists`: an empty list slot takes the list the request names ("put batteries on my
   groceries list" -> project "groceries"), and that phrase is cut from the text slots.
1. `fill_spoken`: an empty spoken slot takes a phrase the request says apart from the other slots
   ("low priority, clean out the garage" -> priority 4).
2. `detach_dates`: a date a text slot repeats at its end is cut from it ("put the bins out
   wednesday night" + due "wednesday night"). Before 3, so a repeated date is not moved twice.
3. `attach_trailing_dates`: a time left at the end of a text slot moves to the date slot
   ("pick up the kids at 3:30" -> due "3:30").
4. `resolve_dates`: each date slot's final span resolved to ISO 8601 in the caller's time zone.

A step returns the answer it was given, unchanged, when it has nothing to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from intentforge.catalogue import Catalogue, IntentCall
from intentforge.catalogue.kinds import (
    CONNECTORS,
    GENERIC_LISTS,
    LOOSE_CONNECTORS,
    ORDINALS,
    TENS,
    UNITS,
    DateKind,
    ordinal_words,
)
from intentforge.config import PostprocessStep
from intentforge.runtime.dates import DateResolver


@dataclass(frozen=True)
class Context:
    """What the steps know of the request: `text` as the model read it (normalised), when and
    where it was said."""

    catalogue: Catalogue
    resolver: DateResolver
    text: str
    timezone: str
    now: datetime


@dataclass(frozen=True)
class Answer:
    """The call so far and, once `resolve_dates` ran, `{slot: {"text": span, "iso": ...}}`."""

    call: IntentCall
    resolved: dict[str, Any] = field(default_factory=dict)


Step = Callable[[Answer, Context], Answer]


def _with_call(answer: Answer, params: dict[str, Any]) -> Answer:
    if params == answer.call.parameters:
        return answer
    return replace(answer, call=IntentCall(answer.call.intent, params))


# "<to|on|in|...> <my|the|our> <one to three words> list": the words name the list; none of
# them is a preposition or an article ("bake a cake for the party to my list" names no list).
_LIST_WORD = r"(?!(?:to|on|onto|in|into|under|for|from|my|the|our|your|a|an)\b)[\w'&-]+"
_NAMED_LIST = re.compile(
    r"\b(?:to|on|onto|in|into|under|for|from)\s+(?:my|the|our|your)\s+"
    rf"((?:{_LIST_WORD}\s+){{0,2}}{_LIST_WORD})\s+list\b",
    re.IGNORECASE,
)


def name_lists(answer: Answer, context: Context) -> Answer:
    """An empty `list` slot filled with the list the request names, unless that list is the
    generic to-do list; the naming phrase ("on my groceries") is cut from the end of text slots
    that kept it, also when the model named that list itself. The model names a list it was
    taught ("my shopping list" -> "shopping") but misses lists it never saw, or copies the
    phrase into the task."""
    intent = context.catalogue[answer.call.intent]
    slots = [s for s, kind in intent.slot_kinds.items() if kind == "list"]
    empty = [s for s in slots if not answer.call.parameters.get(s)]
    found = _NAMED_LIST.search(context.text)
    if not slots or found is None or found[1].casefold() in GENERIC_LISTS:
        return answer
    name = found[1]
    params = dict(answer.call.parameters)
    if empty:
        params[empty[0]] = name
    elif all(str(params[s]).casefold() != name.casefold() for s in slots):
        return answer  # the model named another list: keep its answer whole
    phrase = found[0][: -len("list")].rstrip()  # "on my groceries"
    for slot, value in answer.call.parameters.items():
        if intent.slot_kind(slot) != "text" or not isinstance(value, str):
            continue
        cut = re.sub(rf"\s*{re.escape(phrase)}(?:\s+list)?[\s.,!?]*$", "", value, flags=re.I)
        if cut and cut != value:
            params[slot] = cut
    return answer if params == answer.call.parameters else _with_call(answer, params)


def fill_spoken(answer: Answer, context: Context) -> Answer:
    """An empty spoken slot filled from the request's other words (`Catalogue.fill_spoken`)."""
    call = context.catalogue.fill_spoken(answer.call, context.text)
    return answer if call is answer.call else replace(answer, call=call)


# What may join a text to a date it repeats: the connectors, loose ones included.
_TRAILING_CONNECTOR = re.compile(
    r"[\s,;:-]*(?:\b(?:" + "|".join((*CONNECTORS, *LOOSE_CONNECTORS)) + r")\s*)*$"
)


def detach_dates(answer: Answer, context: Context) -> Answer:
    """Each date span cut from the end of the text slots that repeat it.

    The model sometimes writes the date twice: content "put the bins out wednesday night" and due
    "wednesday night". The date has its own slot (resolved, shown apart by Todoist), so the task
    text keeps "put the bins out". Only a whole trailing repeat is cut, with the word that joined
    it ("on friday"), and never the whole value.
    """
    intent = context.catalogue[answer.call.intent]
    params = dict(answer.call.parameters)
    for slot in intent.date_slots:
        span = params.get(slot)
        if not isinstance(span, str) or not span.strip():
            continue
        needle = span.strip().casefold()
        for name, value in params.items():
            if intent.slot_kind(name) != "text" or not isinstance(value, str):
                continue
            folded = value.rstrip(" .,!?").casefold()
            if not folded.endswith(needle) or len(folded) == len(needle):
                continue
            head = value[: len(folded) - len(needle)]
            if head and head[-1].isalnum():  # "tonight" in "fortnight": not the same words
                continue
            kept = _TRAILING_CONNECTOR.sub("", head).rstrip()
            if kept:
                params[name] = kept
    return _with_call(answer, params)


# Every word of a moved time must be one of these or hold a digit: dateparser alone reads "the
# cat at 5" as a time, and "feed the cat at 5" must keep its cat.
_TIME_WORDS_TEXT = """
    today tonight tonite tomorrow tmrw yesterday now noon midnight morning afternoon evening night
    day days week weeks weekend month months year years hour hours minute minutes fortnight
    monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri
    sat sun mondays tuesdays wednesdays thursdays fridays saturdays sundays january february march
    april may june july august september october november december jan feb mar apr jun jul aug
    sep sept oct nov dec am pm a.m. p.m. o'clock oclock next this last every the a of in at on
    after before from end early late mid half quarter past to
"""
_NUMBERS = (*UNITS[1:], *TENS[2:6], *ORDINALS[1:], ordinal_words(30))  # one .. fifty, thirtieth
_TIME_WORDS = frozenset(_TIME_WORDS_TEXT.split()) | frozenset(_NUMBERS)


def attach_trailing_dates(answer: Answer, context: Context) -> Answer:
    """A time left at the end of a text slot moved into the intent's date slot.

    The model sometimes keeps the time in the task: content "pick up the kids at 3:30" with no
    due, or content "take my meds at 8 pm" with due "every day". A trailing run of words that the
    date resolver reads as a day or time (so "on the way to work" or "chapter 2" never move) goes
    to the empty date slot, or joins the date slot's span when the request says them together
    ("8 pm every day"). The joining word ("at") stays out of both; the text slot keeps a word.
    """
    intent = context.catalogue[answer.call.intent]
    params = dict(answer.call.parameters)
    for slot, kind in intent.date_slots.items():
        for name, value in list(params.items()):
            if intent.slot_kind(name) != "text" or not isinstance(value, str):
                continue
            moved = _trailing_date(value, context.resolver, kind)
            if moved is None:
                continue
            head, span = moved
            current = params.get(slot)
            if isinstance(current, str):
                joined = re.search(
                    re.escape(span) + r"[\s,]+" + re.escape(current),
                    context.text,
                    flags=re.IGNORECASE,
                )
                if joined is None:
                    continue
                span = joined.group(0)
            params[name], params[slot] = head, span
            break
    return _with_call(answer, params)


def _trailing_date(value: str, resolver: DateResolver, kind: DateKind) -> tuple[str, str] | None:
    """(what is left, the longest trailing run of words that reads as a date), or None."""
    now = datetime(2026, 1, 1, 12)  # any instant: only whether the words read as a date matters
    words = value.rstrip(" .,!?").split(" ")
    first = len(words)  # where the trailing run of time words begins
    while first > 0 and _is_time_word(words[first - 1]):
        first -= 1
    for start in range(max(first, 1), len(words)):
        joined_by = words[start - 1].lower() in CONNECTORS
        head = words[: start - 1] if joined_by else words[:start]
        if not head or words[start].lower() in CONNECTORS:
            continue
        span = " ".join(words[start:])
        # "at seven": a bare hour reads as a time only with its "at".
        for said in (span, f"{words[start - 1]} {span}") if joined_by else (span,):
            if resolver.resolve(said, kind=kind, timezone="UTC", now=now).iso is not None:
                return " ".join(head).rstrip(" ,"), span
    return None


def _is_time_word(word: str) -> bool:
    word = word.lower().strip(",.!?;:'\"")
    return any(c.isdigit() for c in word) or word in _TIME_WORDS


def resolve_dates(answer: Answer, context: Context) -> Answer:
    """`resolved` holds `{slot: {"text": span as said, "iso": ISO 8601 or None}}` for each date
    slot the call fills: a `datetime` slot is a date-time with offset when a time was said."""
    resolved = dict(answer.resolved)
    for slot, kind in context.catalogue[answer.call.intent].date_slots.items():
        value = answer.call.parameters.get(slot)
        if isinstance(value, str):
            span = context.resolver.resolve(
                value, kind=kind, timezone=context.timezone, now=context.now
            )
            resolved[slot] = span.to_dict()
    return replace(answer, resolved=resolved) if resolved != answer.resolved else answer


STEPS: dict[PostprocessStep, Step] = {
    "name_lists": name_lists,
    "fill_spoken": fill_spoken,
    "detach_dates": detach_dates,
    "attach_trailing_dates": attach_trailing_dates,
    "resolve_dates": resolve_dates,
}


def apply_steps(
    call: IntentCall, context: Context, enabled: Collection[str] = tuple(STEPS)
) -> Answer:
    """The answer for a validated `call`: the `enabled` steps applied in pipeline order."""
    answer = Answer(call)
    for name, step in STEPS.items():
        if name in enabled:
            answer = step(answer, context)
    return answer
