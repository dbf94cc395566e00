"""Checkpoints of a training run: written whole or not at all, resumed from the newest whole one."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentforge.errors import IntentforgeError
from intentforge.train.checkpoint import load_checkpoint, save_checkpoint

torch = pytest.importorskip("torch")


def _trainer(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return model, optimizer, scheduler


def _step(model, optimizer, scheduler) -> None:
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def _save(run_dir: Path, trainer, step: int) -> None:
    save_checkpoint(
        run_dir, *trainer, step=step, epoch=0, next_batch=step, eval_losses=[], elapsed_s=1.0
    )


def test_a_checkpoint_restores_weights_optimiser_and_position(tmp_path: Path) -> None:
    trainer = _trainer(0)
    _step(*trainer)
    _save(tmp_path, trainer, step=1)
    saved = trainer[0].weight.detach().clone()

    resumed = _trainer(1)
    state = load_checkpoint(tmp_path, *resumed)
    assert state["step"] == 1 and state["next_batch"] == 1
    assert torch.equal(resumed[0].weight, saved)
    assert resumed[1].state_dict()["state"][0]["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_save_killed_between_its_renames_resumes_from_the_previous_checkpoint(
    tmp_path: Path,
) -> None:
    trainer = _trainer(0)
    _step(*trainer)
    _save(tmp_path, trainer, step=1)
    _step(*trainer)
    _save(tmp_path, trainer, step=2)
    kept = trainer[0].weight.detach().clone()
    # The next save was killed after moving the current checkpoint aside, before its own
    # half-written directory was renamed into place.
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")
    (tmp_path / "checkpoint.tmp").mkdir()
    (tmp_path / "checkpoint.tmp" / "weights.safetensors").write_bytes(b"half")

    resumed = _trainer(1)
    assert load_checkpoint(tmp_path, *resumed)["step"] == 2
    assert torch.equal(resumed[0].weight, kept)


def test_a_run_without_a_whole_checkpoint_starts_at_step_zero(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.tmp").mkdir()
    (tmp_path / "checkpoint.tmp" / "state.pt").write_bytes(b"half")
    trainer = _trainer(0)
    before = trainer[0].weight.detach().clone()
    state = load_checkpoint(tmp_path, *trainer)
    assert (state["step"], state["epoch"], state["next_batch"]) == (0, 0, 0)
    assert torch.equal(trainer[0].weight, before)


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    trainer = _trainer(0)
    _save(tmp_path, trainer, step=1)
    other = torch.nn.Sequential(torch.nn.Linear(3, 2))
    optimizer = torch.optim.AdamW(other.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    with pytest.raises(IntentforgeError, match="does not match the model: pass --restart"):
        load_checkpoint(tmp_path, other, optimizer, scheduler)
