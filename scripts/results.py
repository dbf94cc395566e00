"""Write the current figures into docs/results.md from the files that hold them.

    .venv/bin/python bench/parse_latency.py > latency.txt
    .venv/bin/python bench/voice.py > voice.txt
    .venv/bin/python scripts/results.py \
        --report build/reports/intentforge-smollm2-135m/report.json \
        --latency latency.txt --voice voice.txt

Each table sits between `<!-- results:NAME -->` and `<!-- /results:NAME -->` in the document:
`quality` (every model of every `--report`, an `intentforge eval` report.json, one row per data
set it was run on), `latency` (the printed output of bench/parse_latency.py) and `voice` (that
of bench/voice.py). A table whose input is not given stays as it is; text outside the markers
(the history) is never touched.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "results.md"

# (metric in report.json, column heading): the dev-set quality targets and the latency.
QUALITY_COLUMNS = (
    ("intent_accuracy", "intent acc."),
    ("slot_exact_match", "slot exact match"),
    ("json_validity", "JSON valid"),
    ("stop_rate", "stop rate"),
    ("out_of_scope_refusal", "out-of-scope refusal"),
    ("multi_exact_match", "multi-request exact call lists"),
    ("latency_p50_ms", "p50"),
    ("latency_p95_ms", "p95"),
)
# One row of bench/parse_latency.py: "<way>  p50 279.0 ms  p95 343.0 ms  tokens 18.0  steps 9.0
# 20.1 ms/step  valid 36/36".
LATENCY_ROW = re.compile(
    r"^(?P<way>\S.*?)\s+p50\s+(?P<p50>[\d.]+) ms\s+p95\s+(?P<p95>[\d.]+) ms\s+"
    r"tokens\s+[\d.]+\s+steps\s+(?P<steps>[\d.]+)\s+(?P<per_step>[\d.]+) ms/step\s+"
    r"valid (?P<valid>\d+/\d+)\s*$"
)
# One stage of bench/voice.py: "stt   1411   1530".
VOICE_ROW = re.compile(r"^(?P<stage>[a-z]+)\s+(?P<p50>\d+)\s+(?P<p95>\d+)\s*$")


def _figure(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if metric.endswith("_ms") else f"{100 * value:.1f} %"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def per_set_metrics(model: dict[str, Any], paths: list[str]) -> dict[str, dict[str, Any]]:
    """A model's figures on each data set of its report: the report's own when it ran on one set,
    else recomputed from its predictions on each set (with the catalogue's slot kinds)."""
    sets: dict[str, list[dict[str, Any]]] = {}
    for prediction in model["predictions"]:
        sets.setdefault(prediction.get("dataset") or ", ".join(paths), []).append(prediction)
    if len(sets) <= 1:
        return {", ".join(paths) or "?": model["metrics"]}
    from intentforge.catalogue import Catalogue
    from intentforge.config import load_settings
    from intentforge.evaluate.metrics import Prediction, compute_metrics

    catalogue = Catalogue.from_settings(load_settings())
    slots = {intent.name: intent.slot_kinds for intent in catalogue.intents}
    return {
        name: compute_metrics([Prediction(**p) for p in rows], slots).to_dict()
        for name, rows in sets.items()
    }


def quality_table(reports: list[Path]) -> list[str]:
    """One row per model and data set of each eval report, with its date and core count."""
    rows, sources = [], []
    for path in reports:
        report = json.loads(path.read_text(encoding="utf-8"))
        paths = report["dataset"]["paths"]
        for model in report["models"]:
            for data, metrics in per_set_metrics(model, paths).items():
                figures = [_figure(m, metrics.get(m)) for m, _ in QUALITY_COLUMNS]
                rows.append([f"`{Path(model['path']).name or model['name']}`", data, *figures])
        sources.append(
            f"`{path}` ({report['created'][:10]}, {report['dataset']['rows']} rows, "
            f"{report['machine']['cpu_count']} cores)"
        )
    header = ["model", "data", *(heading for _, heading in QUALITY_COLUMNS)]
    return [*_table(header, rows), "", "Written by scripts/results.py from " + "; ".join(sources)]


def latency_table(bench_output: Path, date: str) -> list[str]:
    """The rows, core count, load and RSS that bench/parse_latency.py printed."""
    text = bench_output.read_text(encoding="utf-8")
    rows = [
        [
            m["way"],
            f"{float(m['p50']):.0f} ms",
            f"{float(m['p95']):.0f} ms",
            m["steps"],
            m["per_step"],
            m["valid"],
        ]
        for m in map(LATENCY_ROW.match, text.splitlines())
        if m
    ]
    if not rows:
        raise SystemExit(f"{bench_output}: no rows of bench/parse_latency.py output")
    machine = re.search(r"^cores (\d+)\s+threads (\d+)\s+load average ([\d.]+)", text, re.M)
    rss = re.search(r"(\d+) MiB with one model", text)
    notes = [f"`{bench_output}` ({date}"]
    if machine:
        notes.append(f"{machine[1]} cores, {machine[2]} threads, load average {machine[3]}")
    if rss:
        notes.append(f"RSS with one model {rss[1]} MiB")
    header = ["way of decoding (bench/parse_latency.py)", "p50", "p95", "steps", "ms/step", "valid"]
    return [
        *_table(header, rows),
        "",
        "Written by scripts/results.py from " + ", ".join(notes) + ")",
    ]


def voice_table(bench_output: Path, date: str) -> list[str]:
    """Per-stage p50/p95 and the end-to-end figure that bench/voice.py printed."""
    text = bench_output.read_text(encoding="utf-8")
    rows = [
        [m["stage"], f"{m['p50']} ms", f"{m['p95']} ms"]
        for m in map(VOICE_ROW.match, text.splitlines())
        if m
    ]
    if not rows:
        raise SystemExit(f"{bench_output}: no rows of bench/voice.py output")
    machine = re.search(r"on (\d+) cores \(load average ([\d.]+)\)", text)
    where = f", {machine[1]} cores, load average {machine[2]}" if machine else ""
    footer = f"Written by scripts/results.py from `{bench_output}` ({date}{where})"
    return [*_table(["stage (bench/voice.py)", "p50", "p95"], rows), "", footer]


def replace_section(document: str, name: str, lines: list[str]) -> str:
    """`document` with the text between the `name` markers replaced by `lines`."""
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(document):
        raise SystemExit(f"no {start} ... {end} section in the document")
    return pattern.sub(lambda _: "\n".join([start, *lines, end]), document, count=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, action="append", default=[], help="eval report.json")
    parser.add_argument("--latency", type=Path, help="saved output of bench/parse_latency.py")
    parser.add_argument("--voice", type=Path, help="saved output of bench/voice.py")
    parser.add_argument("--date", help="date of the bench runs (default: today, UTC)")
    parser.add_argument("--out", type=Path, default=DOCUMENT, help="document to update")
    args = parser.parse_args(argv)
    if not (args.report or args.latency or args.voice):
        parser.error("give at least one of --report, --latency, --voice")
    date = args.date or datetime.now(UTC).date().isoformat()
    document = args.out.read_text(encoding="utf-8")
    if args.report:
        document = replace_section(document, "quality", quality_table(args.report))
    if args.latency:
        document = replace_section(document, "latency", latency_table(args.latency, date))
    if args.voice:
        document = replace_section(document, "voice", voice_table(args.voice, date))
    args.out.write_text(document, encoding="utf-8")
    print(f"updated {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
