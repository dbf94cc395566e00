"""The OpenAI-compatible endpoint: the key to send, the client, chat completions with retries."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from intentforge.config import LLMConfig
from intentforge.errors import IntentforgeError, UpstreamError
from intentforge.retry import Retries, Transient, retry_after_s

# A batch job may wait for a rate limit far longer than someone waiting for an action.
MAX_RETRY_AFTER_S = 300.0
MAX_BACKOFF_S = 60.0


class EndpointDown(UpstreamError):
    """The endpoint kept failing (429, 5xx, no answer) through every retry."""


def is_loopback(base_url: str) -> bool:
    """Whether `base_url` points at this machine (such servers need no API key)."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_for(config: LLMConfig, api_key: str | None) -> str:
    """The key to send: the given one, or a placeholder for a server on this machine."""
    if api_key:
        return api_key
    if not is_loopback(config.base_url):
        raise IntentforgeError(
            f"no API key for {config.base_url}: set {config.api_key_env} "
            "(or point llm.base_url at a local OpenAI-compatible server)"
        )
    return "local"  # local servers ignore the key, but the client insists on one


def make_client(config: LLMConfig, api_key: str) -> openai.AsyncOpenAI:
    """The OpenAI client for `config`; its own retries are off because `ChatEndpoint` retries."""
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=config.base_url,
        timeout=config.timeout_s,
        max_retries=0,
        default_headers={"X-Title": "intentforge"},
    )


class ChatEndpoint:
    """Chat completions shared by concurrent workers, each retried on 429, 5xx and drops.

    `requests` counts every HTTP request, retries included; `retries` the retries alone.
    """

    def __init__(self, config: LLMConfig, client: openai.AsyncOpenAI, rng: random.Random) -> None:
        self._config = config
        self._client = client
        self._rng = rng
        self._not_before = 0.0
        self.requests = 0
        self.retries = 0

    async def complete(self, messages: list[ChatCompletionMessageParam]) -> ChatCompletion:
        """One chat completion; UpstreamError for a request the endpoint refuses (4xx), and
        EndpointDown when it keeps failing."""
        config = self._config
        retries = Retries(
            config.max_retries,
            config.backoff_s,
            max_backoff_s=MAX_BACKOFF_S,
            max_retry_after_s=MAX_RETRY_AFTER_S,
            jitter=self._rng,
        )
        loop = asyncio.get_running_loop()
        while True:
            wait_s = self._not_before - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self.requests += 1
            try:
                return await self._client.chat.completions.create(
                    model=config.model,
                    messages=messages,
                    temperature=config.temperature,
                    response_format={"type": "json_object"},
                    extra_body=config.extra_body or None,
                )
            except openai.APIStatusError as exc:
                if not _retryable(exc.status_code):
                    raise _status_error(exc, config) from None
                failure = Transient(f"HTTP {exc.status_code}", retry_after_s(exc.response.headers))
                rate_limited = exc.status_code == 429
            except openai.APIConnectionError as exc:
                timed_out = isinstance(exc, openai.APITimeoutError)
                failure = Transient("timed out" if timed_out else "no answer")
                rate_limited = False
            delay_s = retries.next_delay_s(failure)
            if delay_s is None:
                raise EndpointDown(
                    f"{config.base_url} kept failing ({failure.reason}) after "
                    f"{config.max_retries} retries"
                )
            if rate_limited:
                # A rate limit holds for every worker, not only the one that hit it.
                self._not_before = max(self._not_before, loop.time() + delay_s)
            self.retries += 1
            await asyncio.sleep(delay_s)


def _retryable(status: int) -> bool:
    return status in (408, 409, 425, 429) or status >= 500


def _status_error(exc: openai.APIStatusError, config: LLMConfig) -> UpstreamError:
    detail = " ".join(str(exc.message).split())[:200]
    hint = {
        401: f"check the API key in {config.api_key_env}",
        402: "the account is out of credits",
        403: f"check the API key in {config.api_key_env} and its permissions",
        404: f"check llm.base_url and that llm.model {config.model!r} exists there",
    }.get(exc.status_code, f"check llm.base_url and llm.model {config.model!r}")
    return UpstreamError(f"{config.base_url} answered HTTP {exc.status_code} ({detail}); {hint}")
