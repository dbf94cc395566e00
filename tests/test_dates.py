"""Spoken date spans resolve to ISO 8601 in the caller's time zone, relative to the request time.

The steps that use the resolver on a call (detach, attach, resolve) are in test_postprocess.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intentforge.errors import IntentforgeError
from intentforge.runtime import DateResolver

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
