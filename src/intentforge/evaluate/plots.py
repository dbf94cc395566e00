"""The evaluation report's plots, as PNG data: URIs to embed in report.html."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from intentforge.evaluate.metrics import Metrics
from intentforge.evaluate.runner import ModelResult


def _figure(width: float, height: float) -> Any:
    # Figure without pyplot: no global state, no GUI backend, safe in servers and threads.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _grouped_bars(ax: Any, keys: Sequence[str], series: dict[str, list[float]], title: str) -> None:
    width = 0.8 / max(len(series), 1)
    for n, (name, values) in enumerate(series.items()):
        offsets = [i + (n - (len(series) - 1) / 2) * width for i in range(len(keys))]
        ax.bar(offsets, values, width=width, label=name)
    ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)


def per_intent_plot(results: Sequence[ModelResult]) -> str:
    """Per-intent accuracy (recall) and F1, one bar per model."""
    intents = list(results[0].metrics.per_intent)
    figure = _figure(11, 3.8)
    axes = figure.subplots(1, 2)
    for ax, field, title in (
        (axes[0], "recall", "Accuracy on each intent's rows (recall)"),
        (axes[1], "f1", "F1 per intent"),
    ):
        series = {
            r.name: [getattr(r.metrics.per_intent[i], field) or 0.0 for i in intents]
            for r in results
        }
        _grouped_bars(ax, intents, series, title)
    _legend(figure, axes[1])
    return _png(figure)


def _legend(figure: Any, ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize="small")


def per_slot_plot(results: Sequence[ModelResult]) -> str:
    """Slot-level F1 and exact match per slot, one bar per model."""
    slots = sorted({k for r in results for k in r.metrics.per_slot_exact_match})
    figure = _figure(11, 4.2)
    axes = figure.subplots(1, 2)
    f1 = {
        r.name: [
            (r.metrics.per_slot[s].f1 or 0.0) if s in r.metrics.per_slot else 0.0 for s in slots
        ]
        for r in results
    }
    exact = {r.name: [r.metrics.per_slot_exact_match.get(s) or 0.0 for s in slots] for r in results}
    _grouped_bars(axes[0], slots, f1, "Slot F1 (slot-level)")
    _grouped_bars(axes[1], slots, exact, "Per-slot exact match")
    _legend(figure, axes[1])
    return _png(figure)


def confusion_plot(metrics: Metrics, title: str) -> str:
    """Confusion matrix: gold intents down, predicted across (last column: invalid output)."""
    rows, columns = metrics.confusion["rows"], metrics.confusion["columns"]
    counts = metrics.confusion["counts"]
    figure = _figure(1.2 + 1.1 * len(columns), 1.0 + 0.7 * len(rows))
    ax = figure.subplots()
    ax.imshow(counts, cmap="Blues")
    peak = max((max(r) for r in counts if r), default=0)
    for i, row in enumerate(counts):
        for j, n in enumerate(row):
            colour = "white" if peak and n > peak / 2 else "black"
            ax.text(j, i, str(n), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize="medium")
    return _png(figure)


def latency_plot(results: Sequence[ModelResult]) -> str:
    """Histogram of per-request latency, models overlaid."""
    figure = _figure(8, 3.5)
    ax = figure.subplots()
    latencies = [[p.latency_ms for p in r.predictions] for r in results]
    everything = [v for values in latencies for v in values]
    low, high = (min(everything), max(everything)) if everything else (0.0, 1.0)
    bins = [low + (high - low) * i / 30 for i in range(31)] if high > low else 10
    for result, values in zip(results, latencies, strict=True):
        ax.hist(values, bins=bins, alpha=0.55, label=result.name)
    ax.set_xlabel("latency per request (ms)")
    ax.set_ylabel("requests")
    ax.set_title("Latency")
    ax.legend(fontsize="small")
    return _png(figure)
