"""Evaluation: run models over labelled requests, compute quality metrics, write the report."""

from intentforge.evaluate.metrics import Metrics, Prediction, compute_metrics
from intentforge.evaluate.report import TARGETS, summary, write_report
from intentforge.evaluate.runner import (
    BASELINE,
    ModelResult,
    dataset_info,
    evaluate_models,
    load_sets,
    open_predictor,
)

__all__ = [
    "BASELINE",
    "TARGETS",
    "Metrics",
    "ModelResult",
    "Prediction",
    "compute_metrics",
    "dataset_info",
    "evaluate_models",
    "load_sets",
    "open_predictor",
    "summary",
    "write_report",
]
