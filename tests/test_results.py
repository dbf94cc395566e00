"""scripts/results.py writes docs/results.md's tables from an eval report.json and bench output,
and leaves every line outside its markers as it was."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from intentforge.evaluate.metrics import Prediction, compute_metrics
from intentforge.evaluate.report import build_report
from intentforge.evaluate.runner import ModelResult

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "results.md"
SLOTS = {"add_task": ("content", "due", "priority", "project"), "none": ()}


def _report(path: Path, sets: tuple[str, str] = ("data/dev", "data/dev")) -> Path:
    """A real report.json: one model, one right answer (from the first set) and one wrong."""
    predictions = [
        Prediction("a", "buy milk", "add_task", {"content": "buy milk"}, "add_task",
                   {"content": "buy milk"}, latency_ms=300.0, stopped=True, dataset=sets[0]),
        Prediction("b", "play jazz", "none", {}, "add_task", {"content": "jazz"},
                   latency_ms=200.0, stopped=True, dataset=sets[1]),
    ]  # fmt: skip
    result = ModelResult(
        name="default",
        kind="gguf",
        path="build/models/intentforge-smollm2-135m.q8_0.gguf",
        metrics=compute_metrics(predictions, SLOTS),
        predictions=predictions,
    )
    dataset = {"paths": sorted(set(sets)), "rows": 2, "intents": {}}
    report = build_report([result], dataset)
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def _latency_output(path: Path) -> Path:
    """What bench/parse_latency.py prints, its rows made by its own formatter."""
    spec = importlib.util.spec_from_file_location(
        "parse_latency", ROOT / "bench" / "parse_latency.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up there
    spec.loader.exec_module(bench)
    row = bench.Row("runtime, no jump-forward")
    for latency_ms in (250.0, 280.0, 300.0):
        row.add(latency_ms, 18, 9, True)
    path.write_text(
        "cores 2  threads 2  load average 1.0 0.8 0.7  requests 12 x 3\n\n"
        f"{row.line()}\n\n"
        "RSS: 90 MiB before load, 237 MiB with one model, 310 MiB at the end\n",
        encoding="utf-8",
    )
    return path


def _run(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "results.md"
    out.write_text(DOCUMENT.read_text(encoding="utf-8"), encoding="utf-8")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "results.py"), "--out", str(out), *args],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out.read_text(encoding="utf-8")


def _outside_markers(text: str, name: str) -> str:
    head, rest = text.split(f"<!-- results:{name} -->")
    return head + rest.split(f"<!-- /results:{name} -->")[1]


def test_quality_table_comes_from_report_json(tmp_path: Path) -> None:
    text = _run(tmp_path, "--report", str(_report(tmp_path / "report.json")))
    assert "| `intentforge-smollm2-135m.q8_0.gguf` | data/dev | 50.0 % |" in text
    assert (
        "Transcribed" not in text.split("<!-- /results:quality -->")[0].split("results:quality")[1]
    )
    assert _outside_markers(text, "quality") == _outside_markers(DOCUMENT.read_text(), "quality")


def test_a_report_on_two_sets_gives_a_row_for_each(tmp_path: Path) -> None:
    report = _report(tmp_path / "report.json", sets=("data/dev", "data/dev2"))
    text = _run(tmp_path, "--report", str(report))
    assert "| `intentforge-smollm2-135m.q8_0.gguf` | data/dev | 100.0 % |" in text
    assert "| `intentforge-smollm2-135m.q8_0.gguf` | data/dev2 | 0.0 % |" in text


def test_latency_table_comes_from_bench_output(tmp_path: Path) -> None:
    bench = _latency_output(tmp_path / "latency.txt")
    text = _run(tmp_path, "--latency", str(bench), "--date", "2026-12-02")
    assert "| runtime, no jump-forward | 280 ms |" in text
    assert "2026-12-02, 2 cores, 2 threads, load average 1.0, RSS with one model 237 MiB" in text
    assert _outside_markers(text, "latency") == _outside_markers(DOCUMENT.read_text(), "latency")


def test_voice_table_comes_from_bench_output(tmp_path: Path) -> None:
    bench = tmp_path / "voice.txt"
    bench.write_text(
        "voice pipeline on 2 cores (load average 1.6), STT whisper-base\n"
        f"{'stage':<8}{'p50 ms':>10}{'p95 ms':>10}\n"
        + "".join(f"{s:<8}{p50:>10.0f}{p95:>10.0f}\n" for s, p50, p95 in
                  [("stt", 1411, 1530), ("total", 1810, 2010)])
        + "end to end p50 1.81 s: meets the 2.0 s target\n",
        encoding="utf-8",
    )  # fmt: skip
    text = _run(tmp_path, "--voice", str(bench))
    assert "| stt | 1411 ms | 1530 ms |" in text and "| total | 1810 ms | 2010 ms |" in text


def test_a_table_without_its_input_is_left_as_it_is(tmp_path: Path) -> None:
    text = _run(tmp_path, "--report", str(_report(tmp_path / "report.json")))
    before = DOCUMENT.read_text()
    assert _outside_markers(text, "quality") == _outside_markers(before, "quality")
    assert text != before  # the quality table itself was rewritten


def test_output_that_is_not_the_bench_s_is_refused_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    out.write_text(DOCUMENT.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "empty.txt").write_text("no figures here\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "results.py"), "--out", str(out),
         "--latency", str(tmp_path / "empty.txt")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "no rows of bench/parse_latency.py output" in result.stderr
    assert out.read_text(encoding="utf-8") == DOCUMENT.read_text(encoding="utf-8")
