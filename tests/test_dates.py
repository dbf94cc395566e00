"""Spoken date spans resolve to ISO 8601 in the caller's time zone, relative to the request time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intentforge.catalogue import IntentCall
from intentforge.errors import IntentforgeError
from intentforge.runtime import DateResolver, resolve_call
from intentforge.runtime.dates import attach_trailing_dates, detach_dates

# Wednesday 25 November 2026, 13:30 UTC (14:30 in Paris).
NOW = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def resolver() -> DateResolver:
    return DateResolver()


def iso(
    resolver: DateResolver, span: str, kind: str = "datetime", tz: str = "Europe/Paris"
) -> str | None:
    return resolver.resolve(span, kind=kind, timezone=tz, now=NOW).iso  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("tomorrow at 5pm", "2026-11-26T17:00:00+01:00"),
        ("Tomorrow at 5 PM.", "2026-11-26T17:00:00+01:00"),
        ("tomorrow", "2026-11-26"),
        ("friday", "2026-11-27"),
        ("next tuesday at 3pm", "2026-12-01T15:00:00+01:00"),
        ("tonight", "2026-11-25T20:00:00+01:00"),
        ("in 20 minutes", "2026-11-25T14:50:00+01:00"),
        ("friday at 9", "2026-11-27T09:00:00+01:00"),
        ("tomorrow at five", "2026-11-26T17:00:00+01:00"),
        ("at 5 o'clock", "2026-11-25T17:00:00+01:00"),
        ("this weekend", "2026-11-28"),
        ("next weekend", "2026-12-05"),
        ("on the 5th", "2026-12-05"),
        ("the 30th", "2026-11-30"),
    ],
)
def test_spoken_spans_resolve_in_the_callers_zone(
    resolver: DateResolver, span: str, expected: str
) -> None:
    assert iso(resolver, span) == expected


def test_date_slots_drop_the_time_of_day(resolver: DateResolver) -> None:
    assert iso(resolver, "tomorrow at 5pm", kind="date") == "2026-11-26"


def test_the_same_instant_is_a_different_day_in_another_zone(resolver: DateResolver) -> None:
    # 13:30 UTC is already Thursday 02:30 in Auckland, still Wednesday 05:30 in Los Angeles.
    assert iso(resolver, "tomorrow", tz="Pacific/Auckland") == "2026-11-27"
    assert iso(resolver, "tomorrow", tz="America/Los_Angeles") == "2026-11-26"


def test_offsets_follow_daylight_saving_time(resolver: DateResolver) -> None:
    before_switch = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Paris moves to +02:00 on the 29th
    span = resolver.resolve(
        "tomorrow at 9am", kind="datetime", timezone="Europe/Paris", now=before_switch
    )
    assert span.iso == "2026-03-29T09:00:00+02:00"


def test_naive_now_means_utc(resolver: DateResolver) -> None:
    naive = NOW.replace(tzinfo=None)
    assert resolver.resolve("tomorrow at 5pm", kind="datetime", timezone="UTC", now=naive).iso == (
        "2026-11-26T17:00:00+00:00"
    )


@pytest.mark.parametrize("span", ["asap", "sometime", "next month", "in march"])
def test_unresolvable_spans_keep_their_text_and_no_date(resolver: DateResolver, span: str) -> None:
    resolved = resolver.resolve(span, kind="datetime", timezone="UTC", now=NOW)
    assert resolved.text == span
    assert resolved.iso is None


def test_unknown_time_zone_is_a_400(resolver: DateResolver) -> None:
    with pytest.raises(IntentforgeError, match="Mars/Olympus") as err:
        resolver.resolve("tomorrow", kind="date", timezone="Mars/Olympus", now=NOW)
    assert err.value.status_code == 400


def test_resolve_call_covers_due_and_date_slots_only(resolver: DateResolver) -> None:
    task = IntentCall("add_task", {"content": "call the bank", "due": "tomorrow at 5pm"})
    weather = IntentCall("get_weather", {"location": "Paris", "date": "friday"})
    email = IntentCall("send_email", {"to": "mum", "subject": "tomorrow"})
    tz = "Europe/Paris"
    assert resolve_call(task, resolver, timezone=tz, now=NOW) == {
        "due": {"text": "tomorrow at 5pm", "iso": "2026-11-26T17:00:00+01:00"}
    }
    assert resolve_call(weather, resolver, timezone=tz, now=NOW) == {
        "date": {"text": "friday", "iso": "2026-11-27"}
    }
    assert resolve_call(email, resolver, timezone=tz, now=NOW) == {}


@pytest.mark.parametrize(
    ("content", "due", "kept"),
    [
        ("put the bins out wednesday night", "wednesday night", "put the bins out"),
        ("buy concert tickets on Friday at 10", "friday at 10", "buy concert tickets"),
        ("pay rent, due monday.", "monday", "pay rent"),
        ("get gas on the way to work", "tomorrow", "get gas on the way to work"),  # not repeated
        ("watch the fortnight", "night", "watch the fortnight"),  # not the same words
        ("tomorrow", "tomorrow", "tomorrow"),  # never the whole value
        ("on friday", "friday", "on friday"),  # nothing but the connector would be left
    ],
)
def test_detach_dates_cuts_a_repeated_date_from_the_end_of_text_slots(
    content: str, due: str, kept: str
) -> None:
    call = IntentCall("add_task", {"content": content, "due": due, "priority": 2})
    assert detach_dates(call).parameters == {"content": kept, "due": due, "priority": 2}


def test_detach_dates_covers_every_date_slot() -> None:
    call = IntentCall("get_weather", {"location": "Boston tomorrow", "date": "tomorrow"})
    assert detach_dates(call).parameters == {"location": "Boston", "date": "tomorrow"}
    untouched = IntentCall("send_email", {"to": "mum", "body": "see you tomorrow"})
    assert detach_dates(untouched) is untouched


TASK_SLOTS = ("content", "due", "priority", "project")


@pytest.mark.parametrize(
    ("text", "said", "expected"),
    [
        # A time left in the task with no due: it becomes the due, its "at" stays out of both.
        ("remember to pick up the kids at 3:30", {"content": "pick up the kids at 3:30"},
         {"content": "pick up the kids", "due": "3:30"}),
        ("feed the cat at 5", {"content": "feed the cat at 5"},
         {"content": "feed the cat", "due": "5"}),  # "the cat at 5" is no time
        ("order lenses on december 1st 2026", {"content": "order lenses on december 1st 2026"},
         {"content": "order lenses", "due": "december 1st 2026"}),
        # Said together with the due: joined, as the request says it.
        ("Remind me to take my meds at 8 pm every day.",
         {"content": "take my meds at 8 pm", "due": "every day"},
         {"content": "take my meds", "due": "8 pm every day"}),
        ("walk the dog at seven, tonight", {"content": "walk the dog at seven", "due": "tonight"},
         {"content": "walk the dog", "due": "seven, tonight"}),
        # Left alone: not a time, not said together, or nothing of the task would be left.
        ("get gas on the way to work", {"content": "get gas on the way to work"}, None),
        ("read chapter 2 of the book", {"content": "read chapter 2"}, None),
        ("call mum at 5 on friday", {"content": "call mum at 5", "due": "friday"}, None),
        ("remind me at noon", {"content": "noon"}, None),
        ("table at the 5th avenue diner", {"content": "table at the 5th avenue"}, None),
    ],
)  # fmt: skip
def test_attach_trailing_dates_moves_a_time_left_in_the_task_to_its_due(
    resolver: DateResolver, text: str, said: dict[str, str], expected: dict[str, str] | None
) -> None:
    call = IntentCall("add_task", said)
    moved = attach_trailing_dates(call, TASK_SLOTS, text, resolver)
    assert moved.parameters == (expected or said)


def test_attach_trailing_dates_needs_a_date_slot(resolver: DateResolver) -> None:
    weather = IntentCall("get_weather", {"location": "new york city friday"})
    moved = attach_trailing_dates(
        weather, ("location", "date"), "weather new york city friday", resolver
    )
    assert moved.parameters == {"location": "new york city", "date": "friday"}
    email = IntentCall("send_email", {"to": "mum", "body": "see you at 5"})
    assert (
        attach_trailing_dates(email, ("to", "subject", "body"), "email mum see you at 5", resolver)
        is email
    )
