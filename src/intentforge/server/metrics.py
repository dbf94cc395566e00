"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Parse latency on CPU spans ~50 ms to seconds; voice stages (STT, TTS) reach tens of seconds.
_BUCKETS_S = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Request counts and latencies per endpoint, per-stage latencies, queue depth, tokens.

    Other routers record their own stages (`stt`, `action`, `tts`) with `observe_stage`.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "intentforge_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "intentforge_request_duration_seconds",
            "HTTP request latency by endpoint.",
            ["endpoint"],
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "intentforge_stage_duration_seconds",
            "Latency of each stage: queue, tokenize, prefill, decode, grammar, validate, resolve, "
            "and those other routers add (stt, action, tts).",
            ["stage"],
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "intentforge_queue_depth",
            "Requests waiting for a model worker.",
            registry=self.registry,
        )
        self.busy_workers = Gauge(
            "intentforge_busy_workers",
            "Model workers generating right now.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "intentforge_rejected",
            "Requests refused with 503 because the queue was full.",
            registry=self.registry,
        )
        self.tokens = Counter(
            "intentforge_tokens",
            "Tokens processed, by kind (prompt, generated).",
            ["kind"],
            registry=self.registry,
        )

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage=stage).observe(seconds)

    def observe_parse(self, timings_ms: Mapping[str, float], prompt: int, generated: int) -> None:
        """Record a ParseResult's stage timings and token counts."""
        for stage in ("tokenize", "prefill", "decode", "grammar", "validate", "resolve"):
            if stage in timings_ms:
                self.observe_stage(stage, timings_ms[stage] / 1000)
        self.tokens.labels(kind="prompt").inc(prompt)
        self.tokens.labels(kind="generated").inc(generated)
