"""Running models over datasets: JSON extraction, the three kinds of model, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.config import RuntimeConfig, load_settings
from intentforge.data.jsonl import read_dataset
from intentforge.errors import IntentforgeError
from intentforge.evaluate.baseline import (
    FEW_SHOT,
    BaselinePredictor,
    first_json_object,
    instructions,
    messages_for,
)
from intentforge.evaluate.predictors import GGUFPredictor, Outcome
from intentforge.evaluate.runner import (
    evaluate_predictor,
    load_sets,
    predict_rows,
)

INTENTFORGE = Path(sys.executable).parent / "intentforge"

ROWS = [
    {"id": "a", "text": "remind me to feed the fish tomorrow", "intent": "add_task",
     "parameters": {"content": "feed the fish", "due": "tomorrow"}},
    {"id": "b", "text": "what's the weather in rome", "intent": "get_weather",
     "parameters": {"location": "rome"}},
    {"id": "c", "text": "switch on the tv", "intent": "none", "parameters": {}},
]  # fmt: skip


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_each_prediction_names_the_set_its_row_came_from(tmp_path: Path) -> None:
    class Refuses:
        name, kind, path = "refuses", "test", ""

        def predict(self, text: str) -> Outcome:
            return Outcome(catalogue.validate({"intent": "none", "parameters": {}}), "", 1.0)

        def close(self) -> None:
            pass

    catalogue = load_catalogue()
    dev = _write(tmp_path / "dev.jsonl", ROWS[:2])
    dev2 = tmp_path / "dev2"
    dev2.mkdir()
    _write(dev2 / "a.jsonl", ROWS[2:])
    rows = load_sets([dev, dev2])
    assert [(r["id"], r["set"]) for r in rows] == [
        ("a", str(dev)),
        ("b", str(dev)),
        ("c", str(dev2)),
    ]
    predictions = predict_rows(Refuses(), rows, catalogue)
    assert [p.dataset for p in predictions] == [str(dev), str(dev), str(dev2)]


def test_gold_rows_outside_the_catalogue_are_refused() -> None:
    class Never:
        name, kind, path = "never", "test", ""

        def predict(self, text: str):
            raise AssertionError("must not be asked")

        def close(self) -> None:
            pass

    rows = [{"id": "x", "text": "heat to 21", "intent": "set_thermostat", "parameters": {}}]
    with pytest.raises(IntentforgeError, match="row x does not fit the catalogue"):
        predict_rows(Never(), rows, load_catalogue())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Sure! {"intent": "none", "parameters": {}} Hope that helps.',
         {"intent": "none", "parameters": {}}),
        ('```json\n{"a": {"b": "}{"}, "c": 1}\n```', {"a": {"b": "}{"}, "c": 1}),
        ('{"x": "say \\"hi\\" {"} trailing', {"x": 'say "hi" {'}),
        ("{broken} then {\"ok\": true}", {"ok": True}),
        ('{"intent": "add_task", "parameters": {"content": "milk"', None),
        ("no json here", None),
        ("[1, 2]", None),
    ],
)  # fmt: skip
def test_first_json_object_uses_brace_matching(text: str, expected: dict | None) -> None:
    assert first_json_object(text) == expected


def test_baseline_prompt_lists_every_intent_and_fitting_examples(user_catalogue) -> None:
    system = instructions(user_catalogue)
    for intent in user_catalogue.intents:
        assert f"- {intent.name}:" in system
    assert "content (required)" in system
    messages = messages_for(user_catalogue, "heat the flat to 21")
    assert messages[0]["role"] == "system"
    assert messages[-1] == {"role": "user", "content": "heat the flat to 21"}
    assert len(messages) == 2 + 2 * len(FEW_SHOT)
    only_none = messages_for(load_catalogue(builtin=False), "hello")
    assert [m["role"] for m in only_none] == ["system", "user", "assistant", "user"]


def test_baseline_answers_with_json_from_free_text(smollm2_gguf: Path) -> None:
    catalogue = load_catalogue()
    predictor = BaselinePredictor(
        smollm2_gguf, catalogue, RuntimeConfig(n_threads=1, max_calls=1), max_tokens=48
    )
    try:
        # One of its own few-shot examples: even the untuned model copies that answer.
        echo = predictor.predict(FEW_SHOT[-1][0])
        assert echo.call is not None and echo.call.intent == "none"
        assert echo.stopped is True
        assert echo.latency_ms > 0
        result = evaluate_predictor(predictor, ROWS, catalogue)
    finally:
        predictor.close()
    assert result.kind == "baseline"
    assert result.metrics.rows == 3
    assert all(p.stopped is not None for p in result.predictions)
    for p in result.predictions:
        assert (p.intent is None) == (p.error is not None)


def test_gguf_predictor_parses_with_grammar_and_measures_stop_without(
    smollm2_gguf: Path,
) -> None:
    catalogue = load_catalogue()
    predictor = GGUFPredictor(
        smollm2_gguf,
        catalogue,
        RuntimeConfig(n_threads=1, max_calls=1, max_tokens=48),
        stop_every=1,
    )
    try:
        result = evaluate_predictor(predictor, ROWS, catalogue)
    finally:
        predictor.close()
    assert result.name == smollm2_gguf.name.removesuffix(".gguf")
    assert result.metrics.stop_measured == 3
    for p in result.predictions:
        assert isinstance(p.stopped, bool)
        if p.intent is not None:  # the grammar makes any finished answer valid
            assert catalogue.validate(p.raw).intent == p.intent
        else:
            assert "48 tokens" in (p.error or "")


def test_cli_writes_the_report(tmp_path: Path, smollm2_gguf: Path) -> None:
    dev = _write(tmp_path / "dev.jsonl", ROWS[:2])
    dev2 = _write(tmp_path / "dev2.jsonl", ROWS[2:])
    out = tmp_path / "report"
    cli = [str(INTENTFORGE), "eval"]
    done = subprocess.run(
        [*cli, str(smollm2_gguf), "--data", str(dev), "--data", str(dev2), "--out", str(out),
         "--max-tokens", "48", "--threads", "1", "--stop-every", "0"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The costly errors are printed first, then the quality figures.
    assert 0 <= done.stderr.index("False actions") < done.stderr.index("Intent accuracy")
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [e["dataset"] for e in report["costly_errors"]] == [str(dev), str(dev2)]
    assert [e["out_of_scope"] for e in report["costly_errors"]] == [0, 1]
    assert report["dataset"]["rows"] == 3
    assert report["models"][0]["metrics"]["stop_rate"] is None  # not measured on request
    assert (out / "report.html").stat().st_size > 10_000
    assert "report:" in done.stderr


def test_cli_without_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(INTENTFORGE), "eval", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: nothing to evaluate: give a GGUF file or training run directory, or --baseline"
    ]


@pytest.mark.slow
def test_a_fitted_training_run_is_evaluated_unmerged_through_transformers(
    tiny_run, tiny_dataset: tuple[Path, Path]
) -> None:
    from intentforge.evaluate.adapter import AdapterPredictor

    catalogue = load_catalogue()
    settings = load_settings(overrides={"runtime": {"n_threads": 1}})
    predictor = AdapterPredictor(
        tiny_run.run_dir, catalogue, settings.runtime, cache_dir=settings.train.cache_dir,
        max_tokens=48,
    )  # fmt: skip
    try:
        result = evaluate_predictor(predictor, read_dataset(tiny_dataset[0]), catalogue)
    finally:
        predictor.close()
    assert result.kind == "adapter"
    assert result.name.endswith("(model)")  # the tiny run fine-tunes every weight
    # Fitted to these very rows: it must stop by itself and answer them right.
    assert result.metrics.stop_rate == 1.0
    assert result.metrics.json_validity == 1.0
    assert result.metrics.intent_accuracy is not None and result.metrics.intent_accuracy >= 0.9


@pytest.mark.slow
def test_lora_adapters_and_checkpoints_load_on_their_base(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    from intentforge.evaluate.adapter import AdapterPredictor
    from intentforge.train import train
    from tiny_model import tiny_train_config

    catalogue = load_catalogue()
    config = tiny_train_config(tmp_path / "runs", tiny_base, max_steps=2, save_every_steps=1)
    run = train(config, catalogue=catalogue, train_path=tiny_dataset[0], test_path=None)
    settings = load_settings(overrides={"runtime": {"n_threads": 1}})
    rows = read_dataset(tiny_dataset[1])[:2]
    names = []
    for stage in ("adapter", "checkpoint"):
        if stage == "checkpoint":
            shutil.rmtree(run.run_dir / "adapter")  # the run as if it were still training
        predictor = AdapterPredictor(
            run.run_dir, catalogue, settings.runtime, cache_dir=settings.train.cache_dir,
            max_tokens=16,
        )  # fmt: skip
        try:
            result = evaluate_predictor(predictor, rows, catalogue)
        finally:
            predictor.close()
        assert result.metrics.rows == 2
        assert result.metrics.stop_measured == 2
        names.append(result.name)
    assert names == [f"{run.run_dir.name} (adapter)", f"{run.run_dir.name} (checkpoint)"]
