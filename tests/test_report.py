"""The evaluation report: complete JSON, and HTML that stands alone (no server, no network)."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import pytest

from intentforge.evaluate.metrics import Prediction, compute_metrics
from intentforge.evaluate.report import TARGETS, format_value, meets_target, summary, write_report
from intentforge.evaluate.runner import ModelResult

SLOTS = {
    "add_task": ("content", "due", "priority", "project"),
    "get_weather": ("location", "date"),
    "send_email": ("to", "subject", "body"),
    "none": (),
}


def _result(name: str, right: int) -> ModelResult:
    """Four rows, the first `right` of them answered correctly, the rest as invalid output."""
    golds = [
        ("add_task", {"content": "buy milk", "due": "tomorrow"}),
        ("get_weather", {"location": "paris"}),
        ("send_email", {"to": "john", "body": "I'll be <late>"}),
        ("none", {}),
    ]
    predictions = []
    for n, (intent, params) in enumerate(golds):
        ok = n < right
        predictions.append(
            Prediction(
                id=f"r{n}",
                text=f"request <{n}>",
                gold_intent=intent,
                gold_parameters=params,
                intent=intent if ok else None,
                parameters=params if ok else {},
                raw=json.dumps({"intent": intent, "parameters": params}) if ok else "{oops",
                latency_ms=100.0 + 10 * n,
                stopped=ok,
                error=None if ok else "not valid JSON",
            )
        )
    return ModelResult(
        name=name,
        kind="gguf",
        path=f"/models/{name}.gguf",
        metrics=compute_metrics(predictions, SLOTS),
        predictions=predictions,
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[ModelResult]]:
    results = [_result("model-q8_0", 4), _result("model<q4>", 2)]
    dataset = {"paths": ["data/dev"], "rows": 4, "intents": {"add_task": 1, "none": 1}}
    json_path, html_path = write_report(
        results, dataset, tmp_path_factory.mktemp("report"), elapsed_s=1.5
    )
    return json_path, html_path, results


def test_report_json_holds_metrics_and_every_prediction(written):
    json_path, _, _ = written
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert [m["name"] for m in report["models"]] == ["model-q8_0", "model<q4>"]
    first, second = report["models"]
    assert first["metrics"]["intent_accuracy"] == 1.0
    assert second["metrics"]["intent_accuracy"] == 0.5
    assert second["metrics"]["json_validity"] == 0.5
    assert len(second["predictions"]) == 4
    assert second["predictions"][3]["error"] == "not valid JSON"
    assert report["targets"] == TARGETS
    assert report["machine"]["cpu_count"] >= 1
    assert report["elapsed_s"] == 1.5


def test_report_html_is_self_contained_with_png_plots(written):
    _, html_path, _ = written
    page = html_path.read_text(encoding="utf-8")
    assert "<script" not in page
    # Nothing to fetch: every src is inline data, no link to another server.
    assert re.findall(r"""(?:src|href)=["'](?!data:)""", page) == []
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    # per-intent, per-slot, latency, and one confusion matrix per model
    assert len(images) == 5
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")


def test_report_html_compares_models_side_by_side_and_marks_targets(written):
    _, html_path, _ = written
    page = html_path.read_text(encoding="utf-8")
    assert "<th>model-q8_0</th><th>model&lt;q4&gt;</th>" in page
    assert "100.0 % ✓" in page  # accuracy of the first model
    assert "50.0 % ✗" in page  # accuracy of the second
    assert "request &lt;2&gt;" in page  # an error row, escaped
    assert "request <2>" not in page


def test_summary_lists_the_headline_figures(written):
    _, _, results = written
    figures = summary(results[1])
    assert figures["rows"] == 4
    assert figures["intent_accuracy"] == 0.5
    assert figures["latency_p50_ms"] == pytest.approx(115.0)


def test_formatting_and_target_checks():
    assert format_value(None, "rate") == "—"
    assert format_value(0.9567, "rate") == "95.7 %"
    assert format_value(123.4, "ms") == "123 ms"
    assert meets_target("intent_accuracy", 0.95) is True
    assert meets_target("intent_accuracy", 0.949) is False
    assert meets_target("stop_rate", None) is None
    assert meets_target("latency_p50_ms", 10.0) is None


def test_false_actions_and_false_refusals_come_first_per_set(tmp_path: Path):
    def row(n, text, gold, gold_params, intent, params, dataset):
        return Prediction(f"r{n}", text, gold, gold_params, intent, params, dataset=dataset)

    predictions = [
        row(1, "book me a flight to <Boston>", "none", {}, "add_task",
            {"content": "book me a flight to Boston"}, "data/dev"),
        row(2, "play some jazz", "none", {}, "none", {}, "data/dev"),
        row(3, "remind me to pay rent", "add_task", {"content": "pay rent"}, "none", {},
            "data/dev2"),
        row(4, "how busy is the gym", "none", {}, "get_weather", {"location": "the gym"},
            "data/dev2"),
    ]  # fmt: skip
    result = ModelResult(
        name="m",
        kind="gguf",
        path="/models/m.gguf",
        metrics=compute_metrics(predictions, SLOTS),
        predictions=predictions,
    )
    dataset = {"paths": ["data/dev", "data/dev2"], "rows": 4, "intents": {}}
    json_path, html_path = write_report([result], dataset, tmp_path)

    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert next(iter(report)) == "costly_errors"
    assert report["costly_errors"] == [
        {"model": "m", "dataset": "data/dev", "out_of_scope": 2, "false_actions": 1,
         "false_actions_by_intent": {"add_task": 1}, "in_scope": 0, "false_refusals": 0},
        {"model": "m", "dataset": "data/dev2", "out_of_scope": 1, "false_actions": 1,
         "false_actions_by_intent": {"get_weather": 1}, "in_scope": 1, "false_refusals": 1},
    ]  # fmt: skip

    page = html_path.read_text(encoding="utf-8")
    top = page.index("<h2>False actions and false refusals</h2>")
    summary_at = page.index("<h2>Summary</h2>")
    assert top < summary_at
    section = page[top:summary_at]
    assert "1 of 2 (50.0 %)" in section  # data/dev's false actions
    # Every false action with its text, the intent it became and its parameters, escaped.
    assert "book me a flight to &lt;Boston&gt;" in section
    assert html.escape(json.dumps({"content": "book me a flight to Boston"})) in section
    assert "how busy is the gym" in section
    assert html.escape(json.dumps({"location": "the gym"})) in section
    assert "<td>get_weather</td>" in section
    assert "play some jazz" not in section  # refused as it should be
