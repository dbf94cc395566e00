"""Slot kinds: how a slot's value is said and what intentforge does with it, and the words each
kind is said with. The generator, the runtime and the evaluator all read kinds from here.

- `text` (default): words copied from the request and kept as they are.
- `date` / `datetime`: a time expression copied as said ("tomorrow at 5pm") and resolved by code
  after the model; a `date` keeps the day only (a forecast is per day), a `datetime` also the time
  of day when one was said.
- `spoken`: a phrase mapped to a stored value by the intent's phrase table (`Intent.spoken`).
- `list`: words naming one of the user's lists or projects, said as "my <name> list"; when the
  model leaves the slot empty and the request names a list, the runtime takes the name.
"""

from __future__ import annotations

from typing import Literal, get_args

SlotKind = Literal["text", "date", "datetime", "spoken", "list"]
DateKind = Literal["date", "datetime"]
SLOT_KINDS: tuple[SlotKind, ...] = get_args(SlotKind)
DATE_KINDS: tuple[DateKind, ...] = get_args(DateKind)

# A text slot that declares no kind and is named like this is a date: the names the built-in
# lexicons fill with times (`due`, `when`...) and with days (`date`, `day`).
_KIND_BY_NAME: dict[str, SlotKind] = {
    **dict.fromkeys(("due", "when", "time", "deadline"), "datetime"),
    **dict.fromkeys(("date", "day"), "date"),
}


def kind_by_name(slot: str) -> SlotKind:
    """The kind of a text slot that declares none: a date for a well-known date name, else text."""
    return _KIND_BY_NAME.get(slot, "text")


# Words that join a text to the time it is due and are not part of the time: "at 3:30", "due
# monday". LOOSE_CONNECTORS join a date too but also end texts ("slides for monday's meeting"),
# so a time is never taken to start at one of them.
CONNECTORS: tuple[str, ...] = ("due", "on", "at", "by", "before", "until")
LOOSE_CONNECTORS: tuple[str, ...] = ("for", "over")

# Number words: UNITS[n] says n (0..19), TENS[n] says 10 * n (2..9), ORDINALS[n] the n-th (0..20).
UNITS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
TENS: tuple[str, ...] = (
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
)  # fmt: skip
ORDINALS: tuple[str, ...] = (
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
    "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
    "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth",
)  # fmt: skip


def number_words(n: int) -> str:
    """0..99 in words ("forty two"); larger numbers stay digits."""
    if n < 20:
        return UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return TENS[tens] + ("" if unit == 0 else " " + UNITS[unit])
    return str(n)


def ordinal_words(n: int) -> str:
    """0..99 as an ordinal in words ("twenty first", "thirtieth")."""
    if n <= 20:
        return ORDINALS[n]
    tens, unit = divmod(n, 10)
    if unit == 0:
        return TENS[tens][:-1] + "ieth"
    return TENS[tens] + " " + ORDINALS[unit]


# Lists every request has and that name no project: "add milk to my to-do list" is no project.
GENERIC_LISTS: tuple[str, ...] = (
    "to-do", "todo", "to do", "task", "tasks", "reminder", "reminders", "things to do", "check",
)  # fmt: skip
