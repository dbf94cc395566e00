"""`intentforge build` on the tiny base: each stage runs once, then only what changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intentforge.catalogue import Catalogue, load_catalogue
from intentforge.config import Settings, load_settings
from intentforge.evaluate.calibrate import GRID
from intentforge.export.manifest import read_manifest
from intentforge.pipeline.incremental import is_current, run_stages
from intentforge.pipeline.plan import build, build_paths, is_built, plan

STAGES = ["data", "split", "train", "merge", "export", "calibrate", "eval"]


def _settings(root: Path, tiny_base: Path, converter: Path, **train: Any) -> Settings:
    from tiny_model import TEST_ROWS, write_rows

    dev = write_rows(root / "dev.jsonl", TEST_ROWS)
    return load_settings(
        None,
        {
            "data": {"rows": 80, "train_rows": 48, "test_rows": 12, "out_dir": root / "data"},
            "train": {
                "base": str(tiny_base),
                "rank": 4,
                "alpha": 8,
                "epochs": 1,
                "batch_size": 16,
                "max_length": 96,
                "device": "cpu",
                "runs_dir": root / "runs",
                **train,
            },
            "export": {
                "quantizations": ["q8_0"],
                "out_dir": root / "models",
                "cache_dir": converter,
            },
            "runtime": {"max_tokens": 24, "n_threads": 2},
            "build": {
                "name": "tiny",
                "eval_data": [dev],
                "reports_dir": root / "reports",
                "state_dir": root / "stages",
            },
        },
    )


@pytest.mark.slow
def test_rebuild_skips_what_is_current_and_redoes_what_a_config_change_touches(
    tmp_path: Path, tiny_base: Path
) -> None:
    from tiny_model import converter_cache

    catalogue = load_catalogue()
    settings = _settings(tmp_path, tiny_base, converter_cache())
    assert not is_built(settings, catalogue)

    first = build(settings, catalogue)
    assert [o.name for o in first] == STAGES
    assert not any(o.skipped for o in first)
    paths = build_paths(settings)
    assert paths.primary_model == tmp_path / "models" / "tiny.q8_0.gguf"
    assert paths.primary_model.stat().st_size > 0
    report = json.loads((paths.report_dir / "report.json").read_text())
    assert report["dataset"]["rows"] == 4
    assert len(report["models"][0]["predictions"]) == 4
    assert report["models"][0]["path"] == str(paths.primary_model)
    # The out-of-scope threshold was chosen on the held-out split and travels in the manifest.
    calibrated = json.loads((paths.report_dir / "calibration.json").read_text())["q8_0"]
    assert calibrated["in_scope_rows"] + calibrated["out_of_scope_rows"] == 12
    assert read_manifest(paths.primary_model).refuse_at == calibrated["refuse_at"] in GRID
    assert is_built(settings, catalogue)

    again = build(settings, catalogue)
    assert all(o.skipped for o in again)

    changed = _settings(tmp_path, tiny_base, converter_cache(), learning_rate=1e-3)
    assert not is_built(changed, catalogue)
    third = build(changed, catalogue)
    assert {o.name: o.skipped for o in third} == {
        "data": True,
        "split": True,
        "train": False,
        "merge": False,
        "export": False,
        "calibrate": False,
        "eval": False,
    }


def test_extra_training_rows_join_the_train_split_but_never_dev_texts(tmp_path: Path) -> None:
    from intentforge.errors import IntentforgeError
    from tiny_model import TEST_ROWS, write_rows

    catalogue = load_catalogue()
    dev = write_rows(tmp_path / "dev.jsonl", TEST_ROWS[:2])
    spoken = [
        {"text": "and email to Alex saying see you soon", "intent": "send_email",
         "parameters": {"to": "Alex", "body": "see you soon"}},
        {**TEST_ROWS[0], "text": TEST_ROWS[0]["text"].upper()},  # a dev text: must be dropped
    ]  # fmt: skip
    extra = write_rows(tmp_path / "train_speech.jsonl", spoken)

    def settings_with(extra_files: list[Path]) -> Settings:
        return load_settings(
            None,
            {
                "data": {"rows": 60, "train_rows": 30, "test_rows": 10,
                         "out_dir": tmp_path / "data", "extra_train": extra_files},
                "build": {"eval_data": [dev], "state_dir": tmp_path / "stages"},
            },
        )  # fmt: skip

    plain = settings_with([])
    run_stages(plan(plain, catalogue)[:2], plain.build.state_dir)
    paths = build_paths(plain)
    assert len(paths.train.read_text().splitlines()) == 30

    with_extra = settings_with([extra])
    outcomes = run_stages(plan(with_extra, catalogue)[:2], with_extra.build.state_dir)
    assert [o.skipped for o in outcomes] == [True, False]  # data reused, split redone
    texts = [json.loads(line)["text"] for line in paths.train.read_text().splitlines()]
    assert len(texts) == 31
    assert texts[-1] == "and email to Alex saying see you soon"

    with pytest.raises(IntentforgeError, match=r"extra_train file .* not found"):
        plan(settings_with([tmp_path / "missing.jsonl"]), catalogue)


def test_full_fine_tuning_is_tracked_by_its_model_directory(tmp_path: Path) -> None:
    """Training every weight writes run/model, LoRA run/adapter: the train stage must expect the
    right one, including when train.lora is unset (every weight for smollm2-135m only)."""
    from intentforge.train.trainable import learning_rate

    def paths_for(**train: Any):
        settings = load_settings(None, {"train": {"runs_dir": tmp_path, **train}})
        return build_paths(settings), settings.train

    paths, default = paths_for()  # smollm2-135m preset, lora unset
    assert paths.adapter == paths.run_dir / "model"
    assert learning_rate(default) == 1e-4
    paths, lora = paths_for(lora=True)
    assert paths.adapter == paths.run_dir / "adapter"
    assert learning_rate(lora) == 2e-3
    paths, _ = paths_for(base=str(tmp_path / "my-model"))  # unknown size: LoRA
    assert paths.adapter == paths.run_dir / "adapter"
    paths, _ = paths_for(base="gemma3-270m")
    assert paths.adapter == paths.run_dir / "adapter"
    paths, pinned = paths_for(lora=False, learning_rate=3e-5)
    assert paths.adapter == paths.run_dir / "model"
    assert learning_rate(pinned) == 3e-5


def test_editing_a_user_intents_spoken_phrases_makes_the_data_stage_stale(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    fan = (fixtures_dir / "fan_intents.yaml").read_text(encoding="utf-8")
    intents = tmp_path / "intents.yaml"
    intents.write_text(fan, encoding="utf-8")
    settings = load_settings(
        None,
        {
            "catalogue": {"files": [intents]},
            "data": {"rows": 40, "out_dir": tmp_path / "data"},
            "build": {"state_dir": tmp_path / "stages"},
        },
    )

    def data_stage():  # the plan as `intentforge build` makes it, from the file as it is now
        return plan(settings, Catalogue.from_settings(settings))[0]

    run_stages([data_stage()], settings.build.state_dir)
    assert is_current(data_stage(), settings.build.state_dir)
    intents.write_text(fan.replace("full blast: 3", "full speed: 3"), encoding="utf-8")
    assert not is_current(data_stage(), settings.build.state_dir)
