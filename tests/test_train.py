"""The training loop: run directory contents, eval per epoch, resume after a kill, CLI overrides."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intentforge.catalogue import load_catalogue
from intentforge.digest import sha256_file
from intentforge.errors import IntentforgeError
from intentforge.train.train import train
from tiny_model import tiny_train_config

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue([], [], builtin=True)


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_lora_run_writes_config_dataset_hash_metrics_eval_and_adapter(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path, catalogue
) -> None:
    train_path, test_path = tiny_dataset
    config = tiny_train_config(tmp_path / "runs", tiny_base, epochs=2)
    result = train(config, catalogue=catalogue, train_path=train_path, test_path=test_path)

    run_dir = tmp_path / "runs" / config.name
    assert result.run_dir == run_dir and result.steps == 2  # 8 rows, batch 8, 2 epochs
    record = json.loads((run_dir / "config.json").read_text())
    assert record["train"]["rank"] == 8 and record["end_of_turn"] == "<|im_end|>"
    assert record["data"]["train_sha256"] == sha256_file(train_path)
    assert record["data"]["test_sha256"] == sha256_file(test_path)
    metrics = _metrics(run_dir)
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2]
    evals = [m for m in metrics if "eval_loss" in m]
    assert [m["epoch"] for m in evals] == [1, 2]
    assert result.eval_losses == [round(m["eval_loss"], 5) for m in evals]
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2


def test_fitted_run_learns_its_data(tiny_run) -> None:
    # The stop tests rely on this fit: the loss must have fallen far below its start.
    losses = [m["loss"] for m in _metrics(tiny_run.run_dir) if "loss" in m]
    assert losses[-1] < losses[0] / 10


@pytest.mark.parametrize("freeze", [True, False])
def test_full_fine_tuning_keeps_the_embeddings_only_when_asked(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path, catalogue, freeze: bool
) -> None:
    from safetensors.torch import load_file

    config = tiny_train_config(
        tmp_path / "runs", tiny_base, lora=False, max_steps=2, freeze_embeddings=freeze
    )
    result = train(config, catalogue=catalogue, train_path=tiny_dataset[0], test_path=None)

    before = load_file(tiny_base / "model.safetensors")
    after = load_file(result.adapter_dir / "model.safetensors")
    embedding = "model.embed_tokens.weight"
    assert after[embedding].equal(before[embedding]) is freeze
    changed = [name for name in before if name != embedding and not after[name].equal(before[name])]
    assert "model.layers.0.self_attn.q_proj.weight" in changed


def test_frozen_layers_keep_the_base_weights_and_all_frozen_is_refused(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path, catalogue
) -> None:
    from safetensors.torch import load_file

    config = tiny_train_config(tmp_path / "runs", tiny_base, lora=False, max_steps=2)
    result = train(
        config.model_copy(update={"freeze_layers": 1}),
        catalogue=catalogue,
        train_path=tiny_dataset[0],
        test_path=None,
    )
    before = load_file(tiny_base / "model.safetensors")
    after = load_file(result.adapter_dir / "model.safetensors")
    for name in before:
        if name.startswith("model.layers.0."):
            assert after[name].equal(before[name]), name
    assert not after["model.layers.1.mlp.up_proj.weight"].equal(
        before["model.layers.1.mlp.up_proj.weight"]
    )
    with pytest.raises(IntentforgeError, match="would freeze all 2 blocks"):
        train(
            config.model_copy(update={"freeze_layers": 2}),
            catalogue=catalogue,
            train_path=tiny_dataset[0],
            test_path=None,
            restart=True,
        )


def test_complete_run_is_not_retrained_but_a_changed_config_starts_over(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path, catalogue
) -> None:
    train_path = tiny_dataset[0]
    config = tiny_train_config(tmp_path, tiny_base, max_steps=1)
    train(config, catalogue=catalogue, train_path=train_path, test_path=None)
    with pytest.raises(IntentforgeError, match="already complete"):
        train(config, catalogue=catalogue, train_path=train_path, test_path=None)
    changed = tiny_train_config(tmp_path, tiny_base, max_steps=1, rank=4)
    result = train(changed, catalogue=catalogue, train_path=train_path, test_path=None)
    assert result.steps == 1 and result.resumed_from_step == 0
    record = json.loads((result.run_dir / "config.json").read_text())
    assert record["train"]["rank"] == 4
    again = train(changed, catalogue=catalogue, train_path=train_path, test_path=None, restart=True)
    assert again.steps == 1


_TRAIN_IN_SUBPROCESS = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from tiny_model import tiny_train_config
from intentforge.catalogue import load_catalogue
from intentforge.train.train import train
config = tiny_train_config(Path({runs!r}), Path({base!r}), epochs=40, save_every_steps=3)
train(config, catalogue=load_catalogue([], [], builtin=True), train_path=Path({data!r}),
      test_path=None)
"""


def test_killed_training_resumes_from_its_last_checkpoint(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path, catalogue
) -> None:
    train_path = tiny_dataset[0]
    runs = tmp_path / "runs"
    code = _TRAIN_IN_SUBPROCESS.format(
        tests=str(TESTS_DIR), runs=str(runs), base=str(tiny_base), data=str(train_path)
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    state = runs / "intentforge" / "checkpoint" / "state.pt"
    try:
        deadline = time.monotonic() + 240
        while not state.is_file():
            assert proc.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
        time.sleep(0.3)  # let it run on past the checkpoint: work that the kill loses
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    run_dir = runs / "intentforge"
    assert not (run_dir / "summary.json").exists()

    config = tiny_train_config(runs, tiny_base, epochs=40, save_every_steps=3, max_steps=12)
    result = train(config, catalogue=catalogue, train_path=train_path, test_path=None)
    assert result.resumed_from_step >= 3 and result.resumed_from_step % 3 == 0
    assert result.steps == 12
    steps = [m["step"] for m in _metrics(run_dir) if "loss" in m]
    assert steps == list(range(1, 13))  # no step lost, none logged twice


def test_cli_train_applies_overrides_and_reports(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path: Path, monkeypatch
) -> None:
    from intentforge.cli import app

    monkeypatch.chdir(tmp_path)
    args = [
        "train", "--base", str(tiny_base), "--train", str(tiny_dataset[0]), "--test",
        str(tiny_dataset[1]), "--rank", "4", "--alpha", "8", "--target-modules", "q_proj,v_proj",
        "--lr", "0.001", "--epochs", "1", "--batch-size", "8", "--max-length", "80", "--seed", "3",
        "--device", "cpu", "--name", "cli-run",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "build/runs/cli-run/config.json").read_text())
    assert record["train"] | {
        "rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"], "learning_rate": 0.001,
        "epochs": 1.0, "batch_size": 8, "max_length": 80, "seed": 3,
    } == record["train"]  # fmt: skip
    adapter = json.loads((tmp_path / "build/runs/cli-run/adapter/adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == ["q_proj", "v_proj"] and adapter["r"] == 4
    assert "trained 1 steps" in result.output and "eval loss" in result.output


def test_missing_dataset_is_a_clear_error(tiny_base: Path, tmp_path: Path, catalogue) -> None:
    config = tiny_train_config(tmp_path, tiny_base)
    with pytest.raises(IntentforgeError, match="intentforge data generate"):
        train(config, catalogue=catalogue, train_path=tmp_path / "absent.jsonl", test_path=None)


@pytest.mark.slow
def test_lora_on_smollm2_lowers_the_loss(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, catalogue
) -> None:
    config = tiny_train_config(
        tmp_path, Path("unused"), base="smollm2-135m", lora=True, rank=8, alpha=16,
        learning_rate=2e-3,
        epochs=3, batch_size=8, max_steps=None,
    )  # fmt: skip
    result = train(config, catalogue=catalogue, train_path=tiny_dataset[0], test_path=None)
    losses = [m["loss"] for m in _metrics(result.run_dir) if "loss" in m]
    assert len(losses) == 3
    assert sum(losses[-2:]) / 2 < 0.7 * sum(losses[:2]) / 2
