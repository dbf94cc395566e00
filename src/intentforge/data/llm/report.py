"""What a generation run did: rows kept and dropped, requests, tokens, cost, time."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GenerationReport:
    """What a generation run did. `cost_usd` is None unless the endpoint reports cost (OpenRouter
    does, in credits = US dollars). `requests` counts every HTTP request, retries included;
    `rows_per_intent` counts the whole ledger, resumed rows included."""

    rows_written: int = 0
    rows_resumed: int = 0
    invalid_rows: int = 0
    duplicate_rows: int = 0
    invalid_responses: int = 0
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    elapsed_s: float = 0.0
    rows_per_intent: dict[str, int] = field(default_factory=dict)
    invalid_reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the terminal."""
        cost = "cost not reported" if self.cost_usd is None else f"cost ${self.cost_usd:.4f}"
        return (
            f"{self.rows_written} rows written ({self.rows_resumed} already in the ledger) from "
            f"{self.requests} requests ({self.retries} retries); dropped {self.invalid_rows} "
            f"invalid rows, {self.duplicate_rows} duplicates, {self.invalid_responses} unreadable "
            f"replies; {self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, "
            f"{cost}, {self.elapsed_s:.1f} s"
        )
