"""Model workers behind a bounded queue: when it is full, refuse at once (503), never pile up."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from intentforge.errors import IntentforgeError
from intentforge.runtime import Conversations, Parser, ParseResult
from intentforge.server.metrics import Metrics

T = TypeVar("T")


class RetryLater(IntentforgeError):
    """The server cannot parse now but will soon: 503 with a Retry-After of `retry_after_s`."""

    status_code = 503

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServerBusy(RetryLater):
    """Every worker is busy and the queue is full."""


class ModelLoading(RetryLater):
    """The model is not loaded yet."""


class RequestTimeout(IntentforgeError):
    """The request waited and ran longer than server.request_timeout_s."""

    status_code = 504


class ParserPool:
    """One Parser per worker thread; at most `queue_size` requests wait beyond the busy workers.

    Each Parser is used by one thread at a time. A request that times out sets its cancel event, so
    the generation stops at its next token and the worker is free again. `conversations`, the
    calls waiting for an answer to their question, is one store for all workers (it locks).
    """

    def __init__(
        self,
        parsers: Sequence[Parser],
        *,
        queue_size: int,
        timeout_s: float,
        metrics: Metrics,
        conversations: Conversations,
    ) -> None:
        if not parsers:
            raise ValueError("a pool needs at least one parser")
        self.parsers = tuple(parsers)
        self.conversations = conversations
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self.metrics = metrics
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=len(self.parsers), thread_name_prefix="intentforge-parser"
        )
        self._free: asyncio.Queue[Parser] | None = None
        self._admitted = 0
        self._running = 0

    @property
    def workers(self) -> int:
        return len(self.parsers)

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def _free_parsers(self) -> asyncio.Queue[Parser]:
        if self._free is None:  # created on first use, inside the server's event loop
            self._free = asyncio.Queue()
            for parser in self.parsers:
                self._free.put_nowait(parser)
        return self._free

    def _retry_after_s(self) -> int:
        return max(1, round(self.timeout_s * self.waiting / max(1, self.workers) / 4))

    async def run(
        self, work: Callable[[Parser, threading.Event], T], timeout_s: float | None = None
    ) -> T:
        """Run `work(parser, cancel)` on a free worker; ServerBusy (503) at once when full."""
        if self._admitted >= self.workers + self.queue_size:
            self.metrics.rejected.inc()
            raise ServerBusy(
                f"server busy: {self.workers} workers busy and {self.queue_size} requests queued; "
                "retry shortly",
                retry_after_s=self._retry_after_s(),
            )
        free = self._free_parsers()
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        limit_s = timeout_s or self.timeout_s
        self._admitted += 1
        self._update_gauges()
        queued_at = time.perf_counter()
        try:
            async with asyncio.timeout(limit_s):
                parser = await free.get()
                self.metrics.observe_stage("queue", time.perf_counter() - queued_at)
                self._running += 1
                self._update_gauges()
                future = self._executor.submit(work, parser, cancel)
                future.add_done_callback(lambda _: self._release(loop, parser))
                return await asyncio.wrap_future(future)
        except TimeoutError:
            cancel.set()
            raise RequestTimeout(
                f"request timed out after {limit_s:g} s (server.request_timeout_s); "
                "try a shorter request or retry later"
            ) from None
        finally:
            self._admitted -= 1
            self._update_gauges()

    def _release(self, loop: asyncio.AbstractEventLoop, parser: Parser) -> None:
        def give_back() -> None:
            self._running -= 1
            self._update_gauges()
            self._free_parsers().put_nowait(parser)

        if not loop.is_closed():
            loop.call_soon_threadsafe(give_back)

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(max(0, self.waiting))
        self.metrics.busy_workers.set(self._running)

    async def parse(
        self,
        text: str,
        *,
        timezone: str | None = None,
        now: datetime | None = None,
        conversation_id: str | None = None,
    ) -> ParseResult:
        """Parse `text` on a worker (with `conversation_id`: as the answer to that
        conversation's question), recording stage timings and tokens in the metrics."""
        return await self.run_parse(
            lambda parser, cancel: self.conversations.turn(
                parser,
                text,
                conversation_id=conversation_id,
                timezone=timezone,
                now=now,
                cancel=cancel,
            )
        )

    async def run_parse(
        self, work: Callable[[Parser, threading.Event], ParseResult]
    ) -> ParseResult:
        """`run` for work that parses, recording its stage timings and tokens in the metrics."""
        result = await self.run(work)
        self.metrics.observe_parse(result.timings_ms, result.prompt_tokens, result.tokens)
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
