"""`generate_with_llm`: fill a resumable JSONL ledger with LLM rows, balanced over intents."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

from intentforge.catalogue import Catalogue
from intentforge.config import LLMConfig
from intentforge.data.ledger import Ledger
from intentforge.data.llm.endpoint import ChatEndpoint, EndpointDown, api_key_for, make_client
from intentforge.data.llm.plan import Plan, intent_quotas
from intentforge.data.llm.report import GenerationReport
from intentforge.data.llm.workers import Workers
from intentforge.errors import IntentforgeError, UpstreamError


def generate_with_llm(
    catalogue: Catalogue,
    config: LLMConfig,
    api_key: str | None,
    *,
    rows: int,
    ledger: Path,
    seed: int,
    none_fraction: float = 0.12,
    on_progress: Callable[[int, int], None] | None = None,
) -> GenerationReport:
    """Fill the JSONL `ledger` up to `rows` rows, balanced over intents, from an LLM.

    Rows already in the ledger count (a killed run resumes); only the missing ones are requested.
    Raises IntentforgeError for a missing key, UpstreamError when the endpoint keeps failing; the
    rows validated up to then are written first.
    """
    if rows < 1:
        raise IntentforgeError("rows must be at least 1")
    started = time.monotonic()
    key = api_key_for(config, api_key)
    rng = random.Random(seed)
    report = GenerationReport()
    with Ledger(ledger, catalogue) as book:
        foreign = {row["source"] for row in book.rows} - {"llm"}
        if foreign:
            # Resuming from, say, a template dataset would count its rows as done.
            raise IntentforgeError(
                f"{ledger} holds rows from {', '.join(sorted(foreign))}, so it is not an LLM "
                "ledger; write the LLM rows to another file"
            )
        report.rows_resumed = len(book.rows)
        plan = Plan(catalogue, intent_quotas(catalogue, rows, none_fraction), book.rows, rng)

        async def run() -> None:
            client = make_client(config, key)
            endpoint = ChatEndpoint(config, client, rng)
            try:
                await Workers(catalogue, config, endpoint, plan, book, report, on_progress).run()
            finally:
                report.requests, report.retries = endpoint.requests, endpoint.retries
                await client.close()

        try:
            asyncio.run(run())
        except EndpointDown as exc:
            raise UpstreamError(
                f"{exc}; rows so far are kept in {book.path}: rerun the same command to resume"
            ) from None
        finally:
            report.rows_per_intent = dict(plan.have)
            report.elapsed_s = time.monotonic() - started
    return report
