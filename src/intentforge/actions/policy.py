"""Safety policy shared by executors: dry-run decision and bounded retries on upstream errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from intentforge.config import ActionsConfig
from intentforge.errors import UpstreamError
from intentforge.retry import Retries, Transient, retry_after_s, with_retries

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


def is_dry_run(config: ActionsConfig, has_credentials: bool) -> bool:
    """`dry_run: null` (the default) means dry-run until the executor's credentials exist."""
    if config.dry_run is None:
        return not has_credentials
    return config.dry_run


def call_with_retries(
    attempt: Callable[[], T],
    *,
    service: str,
    config: ActionsConfig,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run `attempt`, retrying while it raises `Transient`, within the actions' retry settings.

    Backoff doubles from `retry_backoff_s`; a Retry-After wins when it asks for longer, up to
    30 s (someone is waiting for the answer). Gives up with UpstreamDown.
    """
    return with_retries(
        attempt,
        Retries(config.max_retries, config.retry_backoff_s, max_retry_after_s=_MAX_RETRY_AFTER_S),
        service=service,
        give_up=lambda reason: UpstreamDown(service, reason),
        sleep=sleep or time.sleep,
    )


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
            raise Transient(f"no answer within {config.timeout_s:g}s") from None
        except httpx.TransportError as exc:
            raise Transient(f"connection failed: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise Transient(f"HTTP {response.status_code}", retry_after_s(response.headers))
        if response.status_code >= 400:
            raise UpstreamRejected(service, response.status_code, _detail(response))
        return response

    return call_with_retries(attempt, service=service, config=config, sleep=sleep)


def json_object(response: httpx.Response, service: str) -> dict[str, Any]:
    """The response body as a JSON object; anything else means the service is misbehaving."""
    try:
        value = response.json()
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamDown(service, "answer that is not a JSON object")
    return value
