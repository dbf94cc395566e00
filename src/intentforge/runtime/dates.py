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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateparser.date import DateDataParser

from intentforge.catalogue.kinds import UNITS, DateKind
from intentforge.errors import IntentforgeError

_HOURS = {word: str(hour) for hour, word in enumerate(UNITS[1:13], start=1)}
_HOUR_WORD = re.compile(r"\bat (" + "|".join(_HOURS) + r")\b")
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
    text = _HOUR_WORD.sub(lambda m: "at " + _HOURS[m.group(1)], text)
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

    def resolve(self, span: str, *, kind: DateKind, timezone: str, now: datetime) -> ResolvedSpan:
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


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (a request's, or runtime.timezone), or an IntentforgeError (400)
    naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise IntentforgeError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'",
            status_code=400,
        ) from None
