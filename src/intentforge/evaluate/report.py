"""The evaluation report: report.json (every figure and prediction) and report.html (tables and
plots embedded as PNG data, so it opens in a browser from disk, without a server)."""

from __future__ import annotations

import html
import json
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intentforge.evaluate.metrics import (
    Metrics,
    costly_errors_per_set,
    is_false_action,
)
from intentforge.evaluate.plots import confusion_plot, latency_plot, per_intent_plot, per_slot_plot
from intentforge.evaluate.runner import ModelResult
from intentforge.evaluate.values import parameters_equal

# The quality bar of the default model on the dev set (issue 5): the report marks each figure.
TARGETS: dict[str, float] = {
    "intent_accuracy": 0.95,
    "slot_exact_match": 0.85,
    "json_validity": 1.0,
    "stop_rate": 0.99,
    "out_of_scope_refusal": 0.90,
}

# (metric, label, kind): kind "rate" prints as a percentage, "ms" as milliseconds; "lower" marks
# the rates where less is better.
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("intent_accuracy", "Intent accuracy", "rate"),
    ("macro_f1", "Intent macro F1", "rate"),
    ("slot_exact_match", "Slot exact match (in-scope rows)", "rate"),
    ("exact_match", "Exact match (all rows)", "rate"),
    ("slot_f1", "Slot F1 (micro, slot-level)", "rate"),
    ("json_validity", "JSON validity", "rate"),
    ("stop_rate", "Stop rate (no grammar)", "rate"),
    ("out_of_scope_refusal", "Out-of-scope refusal", "rate"),
    ("false_action_rate", "False actions (out-of-scope acted on)", "lower"),
    ("false_refusal_rate", "False refusals (in-scope refused)", "lower"),
    ("multi_exact_match", "Multi-request exact call lists", "rate"),
    ("latency_p50_ms", "Latency p50", "ms"),
    ("latency_p95_ms", "Latency p95", "ms"),
)


def format_value(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "ms":
        return f"{value:.0f} ms"
    return f"{100 * value:.1f} %"


def meets_target(metric: str, value: float | None) -> bool | None:
    """Whether `value` reaches the target for `metric` (None: no target, or not measured)."""
    if metric not in TARGETS or value is None:
        return None
    return value >= TARGETS[metric] - 1e-9


def summary(result: ModelResult) -> dict[str, Any]:
    """The headline figures of one model, for manifests and build summaries."""
    figures = {name: getattr(result.metrics, name) for name, _, _ in HEADLINE}
    return {"rows": result.metrics.rows, **figures}


def costly_errors(results: Sequence[ModelResult], dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """False actions (per intent they became) and false refusals of each model on each set: the
    errors that cost a user most, which eval shows first."""
    default = ", ".join(dataset.get("paths", []))
    return [
        {"model": result.name, **errors.to_dict()}
        for result in results
        for errors in costly_errors_per_set(result.predictions, default)
    ]


def multi_requests(results: Sequence[ModelResult], dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """Multi-request exact call lists of each model on each set that says several requests."""
    default = ", ".join(dataset.get("paths", []))
    return [
        {"model": result.name, **row, "dataset": row["dataset"] or default}
        for result in results
        for row in result.multi_sets
    ]


def _multi_requests_table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No set says several requests in one sentence.</p>"
    lines = ["<table><tr><th>Model</th><th>Set</th><th>Exact call lists</th></tr>"]
    for row in rows:
        lines.append(
            f"<tr><td>{_e(row['model'])}</td><td><code>{_e(row['dataset'])}</code></td>"
            f"<td class='num'>{count_of(row['exact'], row['rows'])}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def count_of(count: int, total: int) -> str:
    """ "3 of 150 (2.0 %)": a count with its share."""
    share = f" ({format_value(count / total, 'rate')})" if total else ""
    return f"{count} of {total}{share}"


def format_counts(counts: dict[str, int]) -> str:
    """ "add_task 2, get_weather 1"."""
    return ", ".join(f"{name} {n}" for name, n in counts.items())


# The side-by-side table of the spoken judge: one row per set and path (typed, or a voice).
SPOKEN_COLUMNS = (
    "set", "path", "rows", "intent accuracy", "slot exact match", "false actions", "WER", "STT p50",
)  # fmt: skip


def spoken_cells(figures: dict[str, Any]) -> list[str]:
    """One row of the spoken table, formatted (a PathFigures as a dict)."""
    stt = figures["stt_p50_ms"]
    return [
        figures["dataset"],
        figures["path"],
        str(figures["rows"]),
        format_value(figures["intent_accuracy"], "rate"),
        format_value(figures["slot_exact_match"], "rate"),
        count_of(figures["false_actions"], figures["out_of_scope"]),
        format_value(figures["word_error_rate"], "rate"),
        "—" if stt is None else f"{stt:.0f} ms",
    ]


def _spoken_table(rows: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in SPOKEN_COLUMNS)
    lines = [f"<table><tr>{head}</tr>"]
    for row in rows:
        cells = spoken_cells(row)
        lines.append(
            f"<tr><td><code>{_e(cells[0])}</code></td><td>{_e(cells[1])}</td>"
            + "".join(f"<td class='num'>{_e(c)}</td>" for c in cells[2:])
            + "</tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def build_report(
    results: Sequence[ModelResult],
    dataset: dict[str, Any],
    *,
    elapsed_s: float | None = None,
    spoken: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The report as plain data: what was measured, where, and every prediction; `spoken`: the
    spoken judge's figures per set and path, when it ran."""
    return {
        "costly_errors": costly_errors(results, dataset),
        "spoken": list(spoken),
        "multi_requests": multi_requests(results, dataset),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": dataset,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "elapsed_s": elapsed_s,
        "targets": TARGETS,
        "models": [result.to_dict() for result in results],
    }


def write_report(
    results: Sequence[ModelResult],
    dataset: dict[str, Any],
    out_dir: Path,
    *,
    elapsed_s: float | None = None,
    spoken: Sequence[dict[str, Any]] = (),
) -> tuple[Path, Path]:
    """Write report.json and report.html into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(results, dataset, elapsed_s=elapsed_s, spoken=spoken)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(results, report), encoding="utf-8")
    return json_path, html_path


_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1, h2, h3 { font-weight: 600; } table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #176e2c; } .fail { color: #b3261e; } code { font-size: 12px; }
img { max-width: 100%; } .muted { color: #666; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _call(intent: str | None, parameters: dict[str, Any]) -> str:
    if intent is None:
        return "invalid"
    return json.dumps({"intent": intent, "parameters": parameters}, ensure_ascii=False)


def _headline_table(results: Sequence[ModelResult]) -> str:
    head = "".join(f"<th>{_e(r.name)}</th>" for r in results)
    lines = [f"<table><tr><th>Metric</th><th>Target</th>{head}</tr>"]
    for metric, label, kind in HEADLINE:
        target = TARGETS.get(metric)
        cells = []
        for result in results:
            value = getattr(result.metrics, metric)
            verdict = meets_target(metric, value)
            mark = "" if verdict is None else (" ✓" if verdict else " ✗")
            css = "" if verdict is None else (" pass" if verdict else " fail")
            cells.append(f'<td class="num{css}">{format_value(value, kind)}{mark}</td>')
        shown = f"≥ {format_value(target, kind)}" if target is not None else ""
        lines.append(f"<tr><td>{_e(label)}</td><td>{shown}</td>{''.join(cells)}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _intent_table(metrics: Metrics) -> str:
    lines = [
        "<table><tr><th>Intent</th><th>Support</th><th>Precision</th><th>Recall</th>"
        "<th>F1</th></tr>"
    ]
    for intent, s in metrics.per_intent.items():
        lines.append(
            f"<tr><td>{_e(intent)}</td><td class='num'>{s.support}</td>"
            f"<td class='num'>{format_value(s.precision, 'rate')}</td>"
            f"<td class='num'>{format_value(s.recall, 'rate')}</td>"
            f"<td class='num'>{format_value(s.f1, 'rate')}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def _slot_table(metrics: Metrics) -> str:
    lines = [
        "<table><tr><th>Slot</th><th>Gold</th><th>Precision</th><th>Recall</th><th>F1</th>"
        "<th>Exact match</th></tr>"
    ]
    for slot, exact in metrics.per_slot_exact_match.items():
        s = metrics.per_slot.get(slot)
        cells = (
            [
                format_value(s.precision, "rate"),
                format_value(s.recall, "rate"),
                format_value(s.f1, "rate"),
            ]
            if s is not None
            else ["—", "—", "—"]
        )
        lines.append(
            f"<tr><td>{_e(slot)}</td><td class='num'>{s.support if s else 0}</td>"
            + "".join(f"<td class='num'>{c}</td>" for c in cells)
            + f"<td class='num'>{format_value(exact, 'rate')}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def _errors_table(result: ModelResult) -> str:
    wrong = [
        p
        for p in result.predictions
        if p.intent != p.gold_intent or not parameters_equal(p.gold_parameters, p.parameters)
    ]
    if not wrong:
        return "<p>No errors.</p>"
    lines = [
        f"<p>{len(wrong)} of {len(result.predictions)} rows not exactly right.</p>",
        "<table><tr><th>Id</th><th>Text</th><th>Gold</th><th>Predicted</th><th>Raw output</th>"
        "<th>Stopped</th></tr>",
    ]
    for p in wrong:
        stopped = "—" if p.stopped is None else ("yes" if p.stopped else "no")
        raw = p.raw if len(p.raw) <= 300 else p.raw[:300] + "…"
        error = f"<br><span class='muted'>{_e(p.error)}</span>" if p.error else ""
        lines.append(
            f"<tr><td>{_e(p.id)}</td><td>{_e(p.text)}</td>"
            f"<td><code>{_e(_call(p.gold_intent, p.gold_parameters))}</code></td>"
            f"<td><code>{_e(_call(p.intent, p.parameters))}</code>{error}</td>"
            f"<td><code>{_e(raw)}</code></td><td>{stopped}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def _costly_errors_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "<table><tr><th>Model</th><th>Set</th><th>False actions (out-of-scope acted on)</th>"
        "<th>Intents they became</th><th>False refusals (in-scope answered none)</th></tr>"
    ]
    for row in rows:
        lines.append(
            f"<tr><td>{_e(row['model'])}</td><td><code>{_e(row['dataset'])}</code></td>"
            f"<td class='num'>{count_of(row['false_actions'], row['out_of_scope'])}</td>"
            f"<td>{_e(format_counts(row['false_actions_by_intent']))}</td>"
            f"<td class='num'>{count_of(row['false_refusals'], row['in_scope'])}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def _false_actions_table(result: ModelResult) -> str:
    acted = [p for p in result.predictions if is_false_action(p)]
    if not acted:
        return f"<p>{_e(result.name)}: no false actions.</p>"
    lines = [
        f"<p>{_e(result.name)}: {len(acted)} out-of-scope requests acted on.</p>",
        "<table><tr><th>Set</th><th>Id</th><th>Text</th><th>Became</th><th>Parameters</th></tr>",
    ]
    for p in acted:
        parameters = json.dumps(p.parameters, ensure_ascii=False)
        lines.append(
            f"<tr><td><code>{_e(p.dataset)}</code></td><td>{_e(p.id)}</td><td>{_e(p.text)}</td>"
            f"<td>{_e(p.intent)}</td><td><code>{_e(parameters)}</code></td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def render_html(results: Sequence[ModelResult], report: dict[str, Any]) -> str:
    """A self-contained HTML page: inline CSS, plots as data: URIs, no scripts, no requests."""
    dataset = report["dataset"]
    machine = report["machine"]
    names = ", ".join(r.name for r in results)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>intentforge evaluation: {_e(names)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>intentforge evaluation</h1>",
        f"<p>Dataset <code>{_e(', '.join(dataset.get('paths', [])))}</code>: "
        f"{dataset.get('rows')} rows ({_e(format_counts(dataset.get('intents', {})))}). "
        f"Created {_e(report['created'])} on {machine['cpu_count']} CPU cores "
        f"({_e(machine['platform'])}).</p>",
        *(
            [
                "<h2>Spoken and typed</h2>",
                _spoken_table(report["spoken"]),
                "<p class='muted'>The same rows typed and as heard by the speech-to-text from "
                "each voice. WER: word error rate of the transcripts; STT p50: recognition time "
                "per utterance.</p>",
            ]
            if report.get("spoken")
            else []
        ),
        "<h2>False actions and false refusals</h2>",
        _costly_errors_table(report["costly_errors"]),
        *(_false_actions_table(result) for result in results),
        "<h2>Multi-request exact call lists</h2>",
        _multi_requests_table(report["multi_requests"]),
        "<h2>Summary</h2>",
        _headline_table(results),
        "<p class='muted'>Slot exact match: in-scope rows whose intent and every slot are right. "
        "Stop rate: share of requests where generation without grammar ended by itself within "
        "the token bound. Out-of-scope refusal: share of out-of-scope requests answered "
        "<code>none</code>. Latency: wall time per request as served (grammar on for GGUF "
        "models).</p>",
        "<h2>Per intent</h2>",
        f'<img alt="per-intent accuracy and F1" src="{per_intent_plot(results)}">',
        "<h2>Per slot</h2>",
        f'<img alt="per-slot F1 and exact match" src="{per_slot_plot(results)}">',
        "<h2>Latency</h2>",
        f'<img alt="latency histogram" src="{latency_plot(results)}">',
    ]
    for result in results:
        parts += [
            f"<h2>{_e(result.name)}</h2>",
            f"<p class='muted'>{_e(result.kind)}: <code>{_e(result.path)}</code></p>",
            f'<img alt="confusion matrix" src="{confusion_plot(result.metrics, result.name)}">',
            "<h3>Intents</h3>",
            _intent_table(result.metrics),
            "<h3>Slots</h3>",
            _slot_table(result.metrics),
            "<h3>Errors</h3>",
            _errors_table(result),
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
