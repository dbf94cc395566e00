"""Run a model over a labelled dataset: a GGUF through the runtime's Parser, an unmerged LoRA run
directory through transformers, or the original workflow's few-shot baseline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.catalogue.kinds import SlotKind
from intentforge.config import Settings
from intentforge.data.jsonl import read_dataset, row_calls
from intentforge.errors import IntentforgeError
from intentforge.evaluate.adapter import AdapterPredictor
from intentforge.evaluate.baseline import BaselinePredictor, default_base_gguf
from intentforge.evaluate.metrics import (
    Metrics,
    Prediction,
    compute_metrics,
    multi_exact_per_set,
)
from intentforge.evaluate.predictors import DEFAULT_STOP_EVERY, GGUFPredictor, Predictor
from intentforge.evaluate.values import slot_kinds

BASELINE = "baseline"
SET_KEY = "set"  # the row key naming the set (file or folder given to eval) a row came from


@dataclass
class ModelResult:
    """One model's predictions on a dataset and the metrics computed from them."""

    name: str
    kind: str
    path: str
    metrics: Metrics
    predictions: list[Prediction]
    info: dict[str, Any] = field(default_factory=dict)
    # Multi-request exact call lists per set that has such rows: {dataset, rows, exact}.
    multi_sets: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "multi_sets": self.multi_sets,
            "kind": self.kind,
            "path": self.path,
            "info": self.info,
            "metrics": self.metrics.to_dict(),
            "predictions": [p.to_dict() for p in self.predictions],
        }


def load_sets(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The rows of each path in turn, each marked with the path it came from, so that eval can
    report each set apart."""
    return [{**row, SET_KEY: str(path)} for path in paths for row in read_dataset(path)]


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
            golds.append([catalogue.validate(c) for c in row_calls(row)])
        except IntentforgeError as exc:
            raise IntentforgeError(
                f"dataset row {row['id']} does not fit the catalogue: {exc}"
            ) from None
    predictions = []
    for row, gold_calls in zip(rows, golds, strict=True):
        outcome = predictor.predict(row["text"])
        gold = gold_calls[0]
        predictions.append(
            Prediction(
                id=str(row["id"]),
                text=row["text"],
                gold_intent=gold.intent,
                gold_parameters=dict(gold.parameters),
                gold_calls=[c.to_dict() for c in gold_calls],
                calls=[c.to_dict() for c in outcome.all_calls],
                intent=outcome.call.intent if outcome.call else None,
                parameters=dict(outcome.call.parameters) if outcome.call else {},
                raw=outcome.raw,
                latency_ms=outcome.latency_ms,
                stopped=outcome.stopped,
                error=outcome.error,
                dataset=str(row.get(SET_KEY, "")),
            )
        )
        if on_row is not None:
            on_row()
    return predictions


def open_predictor(
    model: str,
    catalogue: Catalogue,
    settings: Settings,
    *,
    stop_every: int = DEFAULT_STOP_EVERY,
    max_tokens: int | None = None,
) -> Predictor:
    """The predictor for `model`: a .gguf file, a training run directory, or "baseline"."""
    runtime = settings.runtime
    if model == BASELINE:
        return BaselinePredictor(default_base_gguf(), catalogue, runtime, max_tokens=max_tokens)
    path = Path(model)
    if path.is_file() and path.suffix == ".gguf":
        if max_tokens is not None:
            runtime = runtime.model_copy(update={"max_tokens": max_tokens})
        return GGUFPredictor(path, catalogue, runtime, stop_every=stop_every)
    if path.is_dir():
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
    slots = catalogue_slots(catalogue)
    return ModelResult(
        name=predictor.name,
        kind=predictor.kind,
        path=predictor.path,
        metrics=compute_metrics(predictions, slots),
        predictions=predictions,
        multi_sets=multi_exact_per_set(predictions, slot_kinds(slots)),
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
    stop_every: int = DEFAULT_STOP_EVERY,
    max_tokens: int | None = None,
    progress: Any = None,
) -> list[ModelResult]:
    """Evaluate each model in turn (one loaded at a time), with a progress bar per model when
    `progress` (a rich Progress) is given."""
    results = []
    for model in models:
        predictor = open_predictor(
            model, catalogue, settings, stop_every=stop_every, max_tokens=max_tokens
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
