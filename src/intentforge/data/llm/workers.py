"""Concurrent workers: take jobs from the plan, ask the endpoint, keep the good rows in the ledger.

Kept rows are buffered and appended to the ledger in fsynced checkpoints of `CHECKPOINT_ROWS`, and
whatever is buffered is written when the run ends, however it ends.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from openai.types.chat import ChatCompletion

from intentforge.catalogue import Catalogue
from intentforge.config import LLMConfig
from intentforge.data.ledger import Ledger
from intentforge.data.llm.endpoint import ChatEndpoint
from intentforge.data.llm.plan import Job, Plan
from intentforge.data.llm.prompt import build_messages
from intentforge.data.llm.reply import InvalidRow, check_row, parse_rows
from intentforge.data.llm.report import GenerationReport
from intentforge.errors import UpstreamError

CHECKPOINT_ROWS = 100


class Workers:
    """`config.concurrency` workers sharing one plan, one endpoint and one ledger."""

    def __init__(
        self,
        catalogue: Catalogue,
        config: LLMConfig,
        endpoint: ChatEndpoint,
        plan: Plan,
        ledger: Ledger,
        report: GenerationReport,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        self._catalogue = catalogue
        self._config = config
        self._endpoint = endpoint
        self._plan = plan
        self._ledger = ledger
        self._report = report
        self._on_progress = on_progress
        self._seen = {row["text"] for row in ledger.rows}
        self._buffer: list[dict[str, Any]] = []
        self._fruitless = 0
        self._max_fruitless = max(10, 2 * config.concurrency)
        self._reasons: Counter[str] = Counter()
        self._cond = asyncio.Condition()

    async def run(self) -> None:
        """Work until the plan is done; the buffered rows are written however the run ends."""
        self._progress()
        workers = [asyncio.create_task(self._work()) for _ in range(self._config.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.checkpoint(everything=True)
            self._report.invalid_reasons = dict(self._reasons)

    async def _work(self) -> None:
        while True:
            async with self._cond:
                while (job := self._plan.next_job(self._config.rows_per_request)) is None:
                    if self._plan.in_flight == 0:
                        return
                    await self._cond.wait()
            try:
                completion = await self._endpoint.complete(build_messages(self._catalogue, job))
                self._take(job, completion)
            finally:
                async with self._cond:
                    self._plan.settle(job)
                    self._cond.notify_all()

    def _take(self, job: Job, completion: ChatCompletion) -> None:
        """Validate the reply's rows and buffer the good ones; checkpoint every 100."""
        usage = completion.usage
        if usage is not None:
            self._report.prompt_tokens += usage.prompt_tokens
            self._report.completion_tokens += usage.completion_tokens
            cost = (usage.model_extra or {}).get("cost")
            if isinstance(cost, int | float):
                self._report.cost_usd = (self._report.cost_usd or 0.0) + float(cost)
        content = completion.choices[0].message.content if completion.choices else None
        try:
            raws = parse_rows(content)
        except ValueError as exc:
            self._report.invalid_responses += 1
            self._reasons[str(exc).split(" (")[0]] += 1
            raws = []
        accepted = 0
        capacity = min(len(job.specs), self._plan.room(job.intent))
        for raw in raws:
            try:
                row = check_row(self._catalogue, job.intent, raw)
            except InvalidRow as exc:
                self._report.invalid_rows += 1
                self._reasons[str(exc)] += 1
                continue
            if row["text"] in self._seen:
                self._report.duplicate_rows += 1
                continue
            if accepted == capacity:
                continue  # more rows than asked for: the quota stays exact
            self._seen.add(row["text"])
            self._buffer.append(row)
            self._plan.count(job.intent, row["parameters"])
            accepted += 1
        self._fruitless = 0 if accepted else self._fruitless + 1
        self.checkpoint()
        self._progress()
        if self._fruitless >= self._max_fruitless:
            common = ", ".join(f"{r} ({n})" for r, n in self._reasons.most_common(3))
            raise UpstreamError(
                f"{self._fruitless} replies in a row from {self._config.model} gave no usable "
                f"rows (most common problems: {common or 'duplicates'}); try another llm.model"
            )

    def checkpoint(self, *, everything: bool = False) -> None:
        """Append full checkpoints of buffered rows to the ledger (`everything`: the rest too)."""
        while len(self._buffer) >= CHECKPOINT_ROWS or (everything and self._buffer):
            chunk, self._buffer = self._buffer[:CHECKPOINT_ROWS], self._buffer[CHECKPOINT_ROWS:]
            self._report.rows_written += self._ledger.append(chunk)

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self._plan.done, self._plan.total)
