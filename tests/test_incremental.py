"""Stage skipping of `intentforge build`: only what changed is redone."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentforge.pipeline.incremental import Stage, run_stages


def _pipeline(tmp_path: Path, calls: list[str], *, rows: int = 3, fail_second: bool = False):
    data = tmp_path / "data.txt"
    model = tmp_path / "model.bin"

    def make_data() -> None:
        calls.append("data")
        data.write_text("row\n" * rows)

    def make_model() -> None:
        calls.append("model")
        if fail_second:
            raise KeyboardInterrupt  # a crash in the middle of the stage
        model.write_bytes(data.read_bytes()[::-1])

    return [
        Stage("data", {"rows": rows}, [], [data], make_data),
        Stage("model", {"epochs": 1}, [data], [model], make_model),
    ]


def test_second_run_skips_every_stage(tmp_path: Path) -> None:
    calls: list[str] = []
    first = run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    second = run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    assert calls == ["data", "model"]
    assert [o.skipped for o in first] == [False, False]
    assert [o.skipped for o in second] == [True, True]
    assert second[0].outputs[str(tmp_path / "data.txt")] == len("row\n" * 3)


def test_changed_param_reruns_that_stage_and_those_downstream(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    calls.clear()
    run_stages(_pipeline(tmp_path, calls, rows=5), tmp_path / "state")
    assert calls == ["data", "model"]  # model's input file changed, so it reruns too


def test_tampered_output_is_rebuilt(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    (tmp_path / "model.bin").write_bytes(b"corrupt")
    calls.clear()
    outcomes = run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    assert calls == ["model"]
    assert [o.skipped for o in outcomes] == [True, False]


def test_crash_mid_stage_leaves_it_unfinished_and_rerun_resumes_there(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    (tmp_path / "state" / "model.json").unlink()
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        run_stages(_pipeline(tmp_path, calls, fail_second=True), tmp_path / "state")
    assert not (tmp_path / "state" / "model.json").exists()
    calls.clear()
    run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    assert calls == ["model"]


def test_force_reruns_everything(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_pipeline(tmp_path, calls), tmp_path / "state")
    calls.clear()
    run_stages(_pipeline(tmp_path, calls), tmp_path / "state", force=True)
    assert calls == ["data", "model"]
