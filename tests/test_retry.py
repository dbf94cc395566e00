"""The one retry budget and Retry-After reader that actions, the LLM generator and fetch share."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from intentforge.errors import UpstreamError
from intentforge.retry import Retries, Transient, retry_after_s, with_retries


def test_retry_after_accepts_seconds_http_dates_and_milliseconds() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s({"retry-after": "3"}, now) == 3.0
    assert retry_after_s({"retry-after": "Thu, 01 Jan 2026 12:00:07 GMT"}, now) == 7.0
    assert retry_after_s({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now) == 0.0
    assert retry_after_s({"retry-after-ms": "250"}, now) == 0.25
    assert retry_after_s({"retry-after": "-5"}, now) == 0.0
    assert retry_after_s({}, now) is None


@pytest.mark.parametrize("value", ["soon", "", "nan", "inf", "Thu, 99 Foo 2026", "3 seconds"])
def test_an_unreadable_retry_after_means_use_your_own_backoff(value: str) -> None:
    assert retry_after_s({"retry-after": value}) is None


def test_backoff_doubles_and_is_capped() -> None:
    retries = Retries(4, 1.0, max_backoff_s=5.0)
    failure = Transient("HTTP 503")
    assert [retries.next_delay_s(failure) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, None]


def test_retry_after_wins_when_longer_but_is_bounded() -> None:
    retries = Retries(3, 1.0, max_retry_after_s=10.0)
    assert retries.next_delay_s(Transient("HTTP 429", 3.0)) == 3.0
    assert retries.next_delay_s(Transient("HTTP 429", 0.0)) == 2.0  # not sooner than backoff
    assert retries.next_delay_s(Transient("HTTP 429", 3600.0)) == 10.0


def test_jitter_keeps_delays_between_half_and_all_of_the_backoff() -> None:
    retries = Retries(50, 1.0, max_backoff_s=8.0, jitter=random.Random(1))
    delays = [retries.next_delay_s(Transient("x")) for _ in range(50)]
    assert all(d is not None and 4.0 <= d < 8.0 for d in delays[3:])
    assert len(set(delays)) == 50


def test_a_try_that_progressed_earns_a_fresh_budget() -> None:
    retries = Retries(1, 1.0)
    assert retries.next_delay_s(Transient("dropped")) == 1.0
    assert retries.next_delay_s(Transient("dropped")) is None
    assert retries.next_delay_s(Transient("dropped", progressed=True)) == 1.0


def test_with_retries_gives_up_with_the_callers_error_and_last_reason() -> None:
    slept: list[float] = []
    reasons = iter(["timed out", "HTTP 502", "HTTP 503"])

    def attempt() -> None:
        raise Transient(next(reasons))

    with pytest.raises(UpstreamError, match=r"^gave up: HTTP 503$"):
        with_retries(
            attempt,
            Retries(2, 0.5),
            service="x",
            give_up=lambda reason: UpstreamError(f"gave up: {reason}"),
            sleep=slept.append,
        )
    assert slept == [0.5, 1.0]


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def bug() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        with_retries(bug, Retries(5, 0), service="x", give_up=UpstreamError, sleep=print)
    assert calls == [1]
