"""Retrying a call to a service that fails for a while: one backoff, one Retry-After reader.

Actions (Todoist, Open-Meteo, SMTP), the LLM dataset generator and the model download all retry
through `Retries`; each says how many retries it allows, the first delay, and how long a server
may make it wait. The synchronous callers use `with_retries`; the asynchronous generator drives a
`Retries` from its own loop.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Transient(Exception):
    """A failure worth another try (timeout, dropped connection, 429, 5xx).

    `retry_after_s` is what the server asked for, if it said; `progressed` marks a try that moved
    forward (a download that got further), which earns a fresh retry budget.
    """

    def __init__(
        self, reason: str, retry_after_s: float | None = None, *, progressed: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.progressed = progressed


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a server asks us to wait: `Retry-After` (seconds or HTTP date) or `retry-after-ms`.

    None when the headers say nothing usable: a malformed value ("soon") means "use your own
    backoff", never an error. `headers` is case-insensitive (httpx) or has lower-case keys.
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        # It raises on garbage (ValueError on Python 3.11); it never returns None.
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Retries:
    """The retry budget of one call, and how long to wait before each retry.

    The delay doubles from `backoff_s` (capped at `max_backoff_s`; with `jitter`, scaled by a
    random factor in [0.5, 1) so concurrent workers do not retry in lockstep). A Retry-After wins
    when it asks for longer, up to `max_retry_after_s`: a server cannot park us for an hour.
    """

    def __init__(
        self,
        max_retries: int,
        backoff_s: float,
        *,
        max_backoff_s: float = math.inf,
        max_retry_after_s: float = 30.0,
        jitter: random.Random | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.jitter = jitter
        self.used = 0

    def next_delay_s(self, failure: Transient) -> float | None:
        """Seconds to wait before trying again after `failure`, or None when the budget is spent."""
        if failure.progressed:
            self.used = 0
        if self.used >= self.max_retries:
            return None
        delay = min(self.max_backoff_s, self.backoff_s * 2**self.used)
        if self.jitter is not None:
            delay *= 0.5 + self.jitter.random() / 2
        if failure.retry_after_s is not None:
            delay = max(delay, min(failure.retry_after_s, self.max_retry_after_s))
        self.used += 1
        return delay


def with_retries(
    attempt: Callable[[], T],
    retries: Retries,
    *,
    service: str,
    give_up: Callable[[str], Exception],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `attempt` until it returns, retrying while it raises `Transient` and `retries` allows.

    Other exceptions pass through untouched. When the budget is spent, raises `give_up(reason)`
    with the last failure's reason. Callers make retried requests idempotent.
    """
    while True:
        try:
            return attempt()
        except Transient as failure:
            delay_s = retries.next_delay_s(failure)
            if delay_s is None:
                raise give_up(failure.reason) from None
            log.warning(
                "%s: %s; retry %d of %d in %.2fs",
                service,
                failure.reason,
                retries.used,
                retries.max_retries,
                delay_s,
            )
            sleep(delay_s)
