"""Resolve spoken date spans ("tomorrow at 5pm") to ISO 8601 in the caller's time zone.

The model copies spans as spoken; this deterministic code does the calendar arithmetic (an LLM must
not). Resolution is relative to the request time and prefers the future ("friday" on a Wednesday is
in two days). A span that cannot be resolved keeps its text with `iso` None: never a guessed date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dateparser.date import DateDataParser

from intentforge.catalogue import IntentCall
from intentforge.config import zone

Kind = Literal["datetime", "date"]

# Slots resolved by name, in any intent (built-in or user): `due` may carry a time of day, `date` is
# a calendar day (a weather forecast is per day).
DATE_SLOTS: dict[str, Kind] = {"due": "datetime", "date": "date"}

_HOUR_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate((*_HOUR_WORDS, "eleven", "twelve"), start=1)}
_HOUR_WORD = re.compile(r"\bat (" + "|".join(_NUMBER_WORDS) + r")\b")
# "at 9" without am/pm or minutes: dateparser reads a bare number as a day or month. A bare hour
# from 1 to 7 means the afternoon, as people say "at five" for 17:00 (the usual assistant reading).
_BARE_HOUR = re.compile(r"\bat (\d{1,2})(?![\d:.]|\s*(?:am|pm|a\.m\.|p\.m\.))")
_OCLOCK = re.compile(r"\s*o'?\s?clock\b")
_DAY_OF_MONTH = re.compile(r"^(?:on |by )?the (\d{1,2})(?:st|nd|rd|th)?(?: of the month)?$")
_WEEKEND = re.compile(r"^(?:this |next |on the |the |at the )?weekend$")


@dataclass(frozen=True)
class ResolvedSpan:
    """A spoken span and its ISO 8601 value (date, or date-time with offset); None: unknown."""

    text: str
    iso: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "iso": self.iso}


def _normalise(span: str) -> str:
    text = span.strip().lower().rstrip(".!?,")
    text = _OCLOCK.sub("", text)
    text = _HOUR_WORD.sub(lambda m: "at " + _NUMBER_WORDS[m.group(1)], text)
    return _BARE_HOUR.sub(_bare_hour, text)


def _bare_hour(match: re.Match[str]) -> str:
    hour = int(match.group(1))
    return f"at {hour + 12 if 1 <= hour <= 7 else hour}:00"


def _next_day_of_month(day: int, today: date) -> date | None:
    year, month = today.year, today.month
    for _ in range(13):
        if day <= calendar.monthrange(year, month)[1]:
            candidate = date(year, month, day)
            if candidate >= today:
                return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _special(text: str, today: date) -> date | None:
    """Spans dateparser does not know but people say."""
    if _WEEKEND.match(text):
        days = (calendar.SATURDAY - today.weekday()) % 7
        if text.startswith("next"):
            days += 7
        return today + timedelta(days=days)
    match = _DAY_OF_MONTH.match(text)
    if match:
        return _next_day_of_month(int(match.group(1)), today)
    return None


class DateResolver:
    """Resolves spans; construct once (dateparser loads its language data on first use)."""

    def __init__(self, languages: tuple[str, ...] = ("en",)) -> None:
        self._languages = list(languages)
        self.resolve("tomorrow at 5pm", kind="datetime", timezone="UTC", now=datetime(2026, 1, 1))

    def resolve(self, span: str, *, kind: Kind, timezone: str, now: datetime) -> ResolvedSpan:
        """Resolve `span` said at `now` (aware, or naive meaning UTC) by someone in `timezone`."""
        tz = zone(timezone)
        if now.tzinfo is None:
            now = now.replace(tzinfo=ZoneInfo("UTC"))
        local_now = now.astimezone(tz)
        text = _normalise(span)
        day = _special(text, local_now.date())
        if day is not None:
            return ResolvedSpan(span, day.isoformat())
        parser = DateDataParser(
            languages=self._languages,
            settings={
                # dateparser works on naive wall-clock time: give it the caller's local "now".
                "RELATIVE_BASE": local_now.replace(tzinfo=None),
                "PREFER_DATES_FROM": "future",
                "RETURN_TIME_AS_PERIOD": True,
            },
        )
        data = parser.get_date_data(text)
        found = data.date_obj
        if found is None or data.period in ("month", "year"):
            # "in march" or "next month" name no day: keep the words rather than invent one.
            return ResolvedSpan(span, None)
        if kind == "date" or data.period not in ("time", "part_of_day"):
            return ResolvedSpan(span, found.date().isoformat())
        if found.tzinfo is None:
            found = found.replace(tzinfo=tz)
        return ResolvedSpan(span, found.astimezone(tz).isoformat(timespec="seconds"))


def resolve_call(
    call: IntentCall, resolver: DateResolver, *, timezone: str, now: datetime
) -> dict[str, Any]:
    """`{slot: {"text": spoken span, "iso": ISO 8601 or None}}` for the call's date slots."""
    resolved: dict[str, Any] = {}
    for slot, kind in DATE_SLOTS.items():
        value = call.parameters.get(slot)
        if isinstance(value, str):
            span = resolver.resolve(value, kind=kind, timezone=timezone, now=now)
            resolved[slot] = span.to_dict()
    return resolved


# Words that join a task to the time it is due and are not part of the time: "at 3:30".
_CONNECTORS = ("due", "on", "at", "by", "before", "until")
# What may join a task to a date it repeats: the connectors, and "for"/"over", which also end
# tasks ("slides for monday's meeting") and so never start a moved time.
_TRAILING_CONNECTOR = re.compile(
    r"[\s,;:-]*(?:\b(?:" + "|".join((*_CONNECTORS, "for", "over")) + r")\s*)*$"
)


def detach_dates(call: IntentCall) -> IntentCall:
    """The call with each date span cut from the end of the other text slots that repeat it.

    The model sometimes writes the date twice: content "put the bins out wednesday night" and due
    "wednesday night". The date has its own slot (resolved, shown apart by Todoist), so the task
    text keeps "put the bins out". Only a whole trailing repeat is cut, with the word that joined
    it ("on friday"), and never the whole value.
    """
    params = dict(call.parameters)
    for slot in DATE_SLOTS:
        span = params.get(slot)
        if not isinstance(span, str) or not span.strip():
            continue
        needle = span.strip().casefold()
        for name, value in params.items():
            if name in DATE_SLOTS or not isinstance(value, str):
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
    return IntentCall(call.intent, params) if params != call.parameters else call


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
    one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty
    first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth
    fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth
"""
_TIME_WORDS = frozenset(_TIME_WORDS_TEXT.split())


def attach_trailing_dates(
    call: IntentCall, slots: tuple[str, ...], text: str, resolver: DateResolver
) -> IntentCall:
    """The call with a time left at the end of a text slot moved into the intent's date slot.

    The model sometimes keeps the time in the task: content "pick up the kids at 3:30" with no
    due, or content "take my meds at 8 pm" with due "every day". A trailing run of words that the
    date resolver reads as a day or time (so "on the way to work" or "chapter 2" never move) goes
    to the empty date slot, or joins the date slot's span when the request says them together
    ("8 pm every day"). The joining word ("at") stays out of both; the text slot keeps a word.
    """
    params = dict(call.parameters)
    now = datetime(2026, 1, 1, 12)  # any instant: only whether the words read as a date matters
    for slot in (s for s in DATE_SLOTS if s in slots):
        for name, value in list(params.items()):
            if name in DATE_SLOTS or not isinstance(value, str):
                continue
            moved = _trailing_date(value, resolver, DATE_SLOTS[slot], now)
            if moved is None:
                continue
            head, span = moved
            current = params.get(slot)
            if isinstance(current, str):
                joined = re.search(
                    re.escape(span) + r"[\s,]+" + re.escape(current), text, flags=re.IGNORECASE
                )
                if joined is None:
                    continue
                span = joined.group(0)
            params[name], params[slot] = head, span
            break
    return IntentCall(call.intent, params) if params != call.parameters else call


def _trailing_date(
    value: str, resolver: DateResolver, kind: Kind, now: datetime
) -> tuple[str, str] | None:
    """(what is left, the longest trailing run of words that reads as a date), or None."""
    words = value.rstrip(" .,!?").split(" ")
    first = len(words)  # where the trailing run of time words begins
    while first > 0 and _is_time_word(words[first - 1]):
        first -= 1
    for start in range(max(first, 1), len(words)):
        joined_by = words[start - 1].lower() in _CONNECTORS
        head = words[: start - 1] if joined_by else words[:start]
        if not head or words[start].lower() in _CONNECTORS:
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
