"""Run a model over a labelled dataset: a GGUF through the runtime's Parser, an unmerged LoRA run
directory through transformers, or the original workflow's few-shot baseline."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from intentforge.catalogue import Catalogue, IntentCall
from intentforge.catalogue.kinds import SlotKind
from intentforge.config import RuntimeConfig, Settings
from intentforge.data.jsonl import numbered_rows
from intentforge.errors import IntentforgeError, ModelOutputError
from intentforge.evaluate.metrics import Metrics, Prediction, compute_metrics

BASELINE = "baseline"


@dataclass(frozen=True)
class Outcome:
    """A model's answer to one request: the validated call (None if invalid) and how it came."""

    call: IntentCall | None
    raw: str
    latency_ms: float
    stopped: bool | None = None
    error: str | None = None


class Predictor(Protocol):
    """Anything that answers requests; `stopped` is measured on unconstrained generation."""

    name: str
    kind: str
    path: str

    def predict(self, text: str) -> Outcome: ...

    def close(self) -> None: ...


@dataclass
class ModelResult:
    """One model's predictions on a dataset and the metrics computed from them."""

    name: str
    kind: str
    path: str
    metrics: Metrics
    predictions: list[Prediction]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "info": self.info,
            "metrics": self.metrics.to_dict(),
            "predictions": [p.to_dict() for p in self.predictions],
        }


def _jsonl_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise IntentforgeError(f"no *.jsonl files in {path}: pass a dataset file or folder")
        return files
    if not path.is_file():
        raise IntentforgeError(f"dataset not found: {path}: pass a JSONL file or a folder of them")
    return [path]


def load_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Labelled rows from JSONL files (folders: every *.jsonl inside, in name order)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        for file in _jsonl_files(Path(path)):
            for number, row in numbered_rows(file):
                if not {"text", "intent"} <= set(row):
                    raise IntentforgeError(
                        f"{file} line {number}: a row needs at least 'text' and 'intent'"
                    )
                row.setdefault("id", f"{file.stem}-{number}")
                row.setdefault("parameters", {})
                rows.append(row)
    if not rows:
        raise IntentforgeError(f"no rows in {', '.join(str(p) for p in paths)}")
    return rows


def catalogue_slots(catalogue: Catalogue) -> dict[str, dict[str, SlotKind]]:
    return {intent.name: intent.slot_kinds for intent in catalogue.intents}


def predict_rows(
    predictor: Predictor,
    rows: Sequence[dict[str, Any]],
    catalogue: Catalogue,
    on_row: Callable[[], None] | None = None,
) -> list[Prediction]:
    """Ask `predictor` about every row; gold labels are validated against the catalogue first."""
    golds = []
    for row in rows:
        try:
            golds.append(
                catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})
            )
        except IntentforgeError as exc:
            raise IntentforgeError(
                f"dataset row {row['id']} does not fit the catalogue: {exc}"
            ) from None
    predictions = []
    for row, gold in zip(rows, golds, strict=True):
        outcome = predictor.predict(row["text"])
        predictions.append(
            Prediction(
                id=str(row["id"]),
                text=row["text"],
                gold_intent=gold.intent,
                gold_parameters=dict(gold.parameters),
                intent=outcome.call.intent if outcome.call else None,
                parameters=dict(outcome.call.parameters) if outcome.call else {},
                raw=outcome.raw,
                latency_ms=outcome.latency_ms,
                stopped=outcome.stopped,
                error=outcome.error,
            )
        )
        if on_row is not None:
            on_row()
    return predictions


class GGUFPredictor:
    """A GGUF through the runtime's Parser (grammar on, as served), plus an unconstrained
    generation for the stop rate wherever the grammar changed the answer."""

    kind = "gguf"

    def __init__(
        self,
        path: Path,
        catalogue: Catalogue,
        runtime: RuntimeConfig,
        *,
        measure_stop: bool = True,
    ) -> None:
        from intentforge.runtime import Parser

        self.name = path.name.removesuffix(".gguf")
        self.path = str(path)
        self._measure_stop = measure_stop
        self._parser = Parser(path, catalogue, runtime)

    def predict(self, text: str) -> Outcome:
        started = time.perf_counter()
        unconstrained = False
        try:
            result = self._parser.parse(text)
            call, raw, error = result.call, result.raw, None
            unconstrained = result.unconstrained
        except ModelOutputError as exc:
            call, raw, error = None, str(getattr(exc, "raw", "") or ""), str(exc)
        latency_ms = (time.perf_counter() - started) * 1000
        stopped = None
        if self._measure_stop:
            # Greedy decoding is deterministic: when the grammar never overrode the model, the
            # run without it would produce the same tokens and the same end-of-turn, so only
            # the other requests are generated a second time.
            if unconstrained:
                stopped = True
            else:
                stopped = bool(self._parser.generate(text, grammar=False).stopped_by_eos)
        return Outcome(call, raw, latency_ms, stopped, error)

    def close(self) -> None:
        close = getattr(self._parser, "close", None)
        if close is not None:
            close()


def validate_output(catalogue: Catalogue, text: str) -> tuple[IntentCall | None, str | None]:
    """The call in a model's raw answer, or None with the reason it is not one."""
    try:
        return catalogue.validate(text.strip()), None
    except IntentforgeError as exc:
        return None, str(exc)


def open_predictor(
    model: str,
    catalogue: Catalogue,
    settings: Settings,
    *,
    measure_stop: bool = True,
    max_tokens: int | None = None,
) -> Predictor:
    """The predictor for `model`: a .gguf file, a training run directory, or "baseline"."""
    runtime = settings.runtime
    if model == BASELINE:
        from intentforge.evaluate.baseline import BaselinePredictor, default_base_gguf

        return BaselinePredictor(default_base_gguf(), catalogue, runtime, max_tokens=max_tokens)
    path = Path(model)
    if path.is_file() and path.suffix == ".gguf":
        if max_tokens is not None:
            runtime = runtime.model_copy(update={"max_tokens": max_tokens})
        return GGUFPredictor(path, catalogue, runtime, measure_stop=measure_stop)
    if path.is_dir():
        from intentforge.evaluate.adapter import AdapterPredictor

        return AdapterPredictor(
            path, catalogue, runtime, cache_dir=settings.train.cache_dir, max_tokens=max_tokens
        )
    raise IntentforgeError(
        f"model not found: {model}: pass a .gguf file, a training run directory or 'baseline'"
    )


def evaluate_predictor(
    predictor: Predictor,
    rows: Sequence[dict[str, Any]],
    catalogue: Catalogue,
    on_row: Callable[[], None] | None = None,
) -> ModelResult:
    """Predictions and metrics of one opened model on `rows`."""
    predictions = predict_rows(predictor, rows, catalogue, on_row)
    return ModelResult(
        name=predictor.name,
        kind=predictor.kind,
        path=predictor.path,
        metrics=compute_metrics(predictions, catalogue_slots(catalogue)),
        predictions=predictions,
    )


def dataset_info(rows: Sequence[dict[str, Any]], paths: Sequence[Path]) -> dict[str, Any]:
    """What the report says about the dataset: files, row count, rows per intent."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["intent"]] = counts.get(row["intent"], 0) + 1
    return {"paths": [str(p) for p in paths], "rows": len(rows), "intents": counts}


def evaluate_models(
    models: Sequence[str],
    rows: Sequence[dict[str, Any]],
    catalogue: Catalogue,
    settings: Settings,
    *,
    measure_stop: bool = True,
    max_tokens: int | None = None,
    progress: Any = None,
) -> list[ModelResult]:
    """Evaluate each model in turn (one loaded at a time), with a progress bar per model when
    `progress` (a rich Progress) is given."""
    results = []
    for model in models:
        predictor = open_predictor(
            model, catalogue, settings, measure_stop=measure_stop, max_tokens=max_tokens
        )
        try:
            task = None
            if progress is not None:
                task = progress.add_task(f"eval {predictor.name}", total=len(rows))

            def advance(task: Any = task) -> None:
                if task is not None:
                    progress.advance(task)

            results.append(evaluate_predictor(predictor, rows, catalogue, advance))
        finally:
            predictor.close()
    return results
