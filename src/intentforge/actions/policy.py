"""Safety policy shared by executors: dry-run decision and bounded retries on upstream errors."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from intentforge.config import ActionsConfig
from intentforge.errors import UpstreamError

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_RETRY_AFTER_S = 30.0


class UpstreamRejected(UpstreamError):
    """The service answered with a 4xx: retrying the same request would not help."""

    def __init__(self, service: str, status: int, detail: str) -> None:
        super().__init__(f"{service} rejected the request ({status}): {detail}")
        self.service = service
        self.status = status
        self.detail = detail


class UpstreamDown(UpstreamError):
    """The service failed (5xx, timeout, refused connection) on every attempt."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} is not answering ({reason}); try again later")
        self.service = service
        self.reason = reason


class _Transient(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def is_dry_run(config: ActionsConfig, has_credentials: bool) -> bool:
    """`dry_run: null` (the default) means dry-run until the executor's credentials exist."""
    if config.dry_run is None:
        return not has_credentials
    return config.dry_run


def with_retries(
    attempt: Callable[[], T],
    *,
    service: str,
    max_retries: int,
    backoff_s: float,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run `attempt` up to 1 + max_retries times while it raises a transient error.

    Backoff doubles from `backoff_s`; a server's Retry-After wins when it asks for longer (bounded).
    Callers make retried requests idempotent (same X-Request-Id, same Message-ID).
    """
    last = "unknown error"
    for number in range(max_retries + 1):
        try:
            return attempt()
        except _Transient as exc:
            last = exc.reason
            if number == max_retries:
                break
            delay = backoff_s * (2**number)
            if exc.retry_after_s is not None:
                delay = max(delay, min(exc.retry_after_s, _MAX_RETRY_AFTER_S))
            log.warning(
                "%s: %s; retry %d of %d in %.2fs", service, last, number + 1, max_retries, delay
            )
            (sleep or time.sleep)(delay)
    raise UpstreamDown(service, last)


def transient(reason: str, retry_after_s: float | None = None) -> Exception:
    """The exception an attempt raises to ask `with_retries` for another try."""
    return _Transient(reason, retry_after_s)


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed is None:
            return None
        return max(0.0, (parsed - datetime.now(UTC)).total_seconds())


def _detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    try:
        body = response.json()
    except ValueError:
        return text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "reason", "message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return text[:200]


def http_request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    service: str,
    config: ActionsConfig,
    sleep: Callable[[float], None] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP call with the policy: retries on timeouts, connection errors, 429 and 5xx only.

    Returns a 2xx/3xx response; raises UpstreamRejected (4xx) or UpstreamDown (gave up).
    """

    def attempt() -> httpx.Response:
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise transient(f"no answer within {config.timeout_s:g}s") from None
        except httpx.TransportError as exc:
            raise transient(f"connection failed: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise transient(f"HTTP {response.status_code}", _retry_after_s(response))
        if response.status_code >= 400:
            raise UpstreamRejected(service, response.status_code, _detail(response))
        return response

    return with_retries(
        attempt,
        service=service,
        max_retries=config.max_retries,
        backoff_s=config.retry_backoff_s,
        sleep=sleep or time.sleep,
    )


def json_object(response: httpx.Response, service: str) -> dict[str, Any]:
    """The response body as a JSON object; anything else means the service is misbehaving."""
    try:
        value = response.json()
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamDown(service, "answer that is not a JSON object")
    return value
