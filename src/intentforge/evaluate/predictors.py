"""What eval asks a model, and how it answers: the Predictor protocol, its Outcome, and the GGUF
predictor (the model as served). The adapter and baseline predictors live beside it and import
only this module, so imports point one way: runner -> adapter/baseline -> predictors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from intentforge.catalogue import Catalogue, IntentCall
from intentforge.config import RuntimeConfig
from intentforge.errors import IntentforgeError, ModelOutputError

# The stop rate on every third request: a third of the cost of measuring it on all, and still
# hundreds of requests on the dev sets.
DEFAULT_STOP_EVERY = 3


@dataclass(frozen=True)
class Outcome:
    """A model's answer to one request: the validated call (None if invalid) and how it came;
    `calls` every call of an answer of several (empty: `call` alone)."""

    call: IntentCall | None
    raw: str
    latency_ms: float
    stopped: bool | None = None
    error: str | None = None
    calls: tuple[IntentCall, ...] = ()

    @property
    def all_calls(self) -> tuple[IntentCall, ...]:
        """Every call of the answer, in order (none when it is invalid)."""
        if self.calls:
            return self.calls
        return (self.call,) if self.call is not None else ()


class Predictor(Protocol):
    """Anything that answers requests; `stopped` is measured on unconstrained generation."""

    name: str
    kind: str
    path: str

    def predict(self, text: str) -> Outcome: ...

    def close(self) -> None: ...


def validate_output(catalogue: Catalogue, text: str) -> tuple[list[IntentCall], str | None]:
    """The calls in a model's raw answer (one per line), or none with the reason they are not."""
    try:
        return catalogue.validate_calls(text.strip()), None
    except IntentforgeError as exc:
        return [], str(exc)


class GGUFPredictor:
    """A GGUF through the runtime's Parser (grammar on, as served), plus, on every
    `stop_every`-th request (0: none), a generation without the grammar for the stop rate.

    Served decoding appends the text the grammar fixes without asking the model (jump-forward),
    so whether the model would have ended its answer itself takes a second, grammar-free
    generation; on an even sample of the rows it measures the same rate at a fraction of the cost.
    """

    kind = "gguf"

    def __init__(
        self,
        path: Path,
        catalogue: Catalogue,
        runtime: RuntimeConfig,
        *,
        stop_every: int = DEFAULT_STOP_EVERY,
    ) -> None:
        from intentforge.runtime import Parser

        self.name = path.name.removesuffix(".gguf")
        self.path = str(path)
        self._stop_every = stop_every
        self._requests = 0
        self._parser = Parser(path, catalogue, runtime)

    def predict(self, text: str) -> Outcome:
        started = time.perf_counter()
        unconstrained = False
        try:
            result = self._parser.parse(text)
            call, raw, error = result.call, result.raw, None
            calls = tuple(c.call for c in result.calls)
            unconstrained = result.unconstrained
        except ModelOutputError as exc:
            call, raw, error = None, str(getattr(exc, "raw", "") or ""), str(exc)
            calls = ()
        latency_ms = (time.perf_counter() - started) * 1000
        stopped = None
        if self._stop_every and self._requests % self._stop_every == 0:
            # Greedy decoding is deterministic: when the model alone chose every token, the run
            # without the grammar would produce the same tokens and the same end-of-turn.
            if unconstrained:
                stopped = True
            else:
                stopped = bool(self._parser.generate(text, grammar=False).stopped_by_eos)
        self._requests += 1
        return Outcome(call, raw, latency_ms, stopped, error, calls)

    def close(self) -> None:
        close = getattr(self._parser, "close", None)
        if close is not None:
            close()
