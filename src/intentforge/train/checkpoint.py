"""A training run's directory: its recorded config, its checkpoints and resuming from them.

Run directory `<runs_dir>/<name>/`: config.json (resolved settings, base, dataset sha256),
metrics.jsonl (one line per step and per eval), checkpoint/ (the trainable weights, optimiser,
scheduler, RNG and position in the epoch), then adapter/ or model/ and summary.json when done.
A run resumes from its checkpoint only while it learns the same thing: same learning settings,
same base, same data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intentforge.config import TrainConfig
from intentforge.digest import sha256_file
from intentforge.errors import IntentforgeError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from intentforge.train.dataset import EncodedSplit
    from intentforge.train.models import ResolvedBase

# Settings that do not change what is learned: a run may resume with other values of these.
_RESUMABLE_KEYS = {"max_steps", "save_every_steps", "runs_dir", "cache_dir", "name", "threads"}


def run_dir_for(config: TrainConfig, name: str | None = None) -> Path:
    """Where the run `name` (default: `train.name`) lives."""
    return config.runs_dir / (name or config.name)


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config a run was trained with (its config.json)."""
    path = run_dir / "config.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntentforgeError(
            f"{path} not found: train first with `intentforge train` (or pick the run with --name)"
        ) from None
    except json.JSONDecodeError:
        raise IntentforgeError(
            f"{path} is not valid JSON: train the run again with --restart"
        ) from None
    return data


def run_record(
    config: TrainConfig,
    base: ResolvedBase,
    end_of_turn: str,
    train_path: Path,
    test_path: Path | None,
    train_split: EncodedSplit,
    test_split: EncodedSplit | None,
) -> dict[str, Any]:
    """What config.json holds: the resolved settings, the base and the data with its sha256."""
    return {
        "train": config.model_dump(mode="json"),
        "base": base.to_dict(),
        "end_of_turn": end_of_turn,
        "data": {
            "train": str(train_path),
            "train_sha256": sha256_file(train_path),
            "train_examples": len(train_split.examples),
            "train_dropped_too_long": train_split.dropped_too_long,
            "train_dropped_unsaid": train_split.dropped_unsaid,
            "test": str(test_path) if test_path else None,
            "test_sha256": sha256_file(test_path) if test_path else None,
            "test_examples": len(test_split.examples) if test_split else 0,
        },
    }


def _learning_part(record: dict[str, Any]) -> dict[str, Any]:
    train = {k: v for k, v in record["train"].items() if k not in _RESUMABLE_KEYS}
    data = {k: v for k, v in record["data"].items() if k.endswith("sha256")}
    return {"train": train, "base": record["base"]["name"], "data": data}


def prepare_run_dir(run_dir: Path, record: dict[str, Any], restart: bool) -> None:
    """Resume a run only if it learns the same thing; a changed config or dataset starts over
    (its checkpoints could not be continued meaningfully)."""
    config_path = run_dir / "config.json"
    if config_path.is_file() and not restart:
        try:
            changed = _learning_part(read_run_config(run_dir)) != _learning_part(record)
        except (IntentforgeError, KeyError):
            changed = True
        done = (run_dir / "summary.json").is_file() and any(
            (run_dir / d / "config.json").is_file()
            or (run_dir / d / "adapter_config.json").is_file()
            for d in ("adapter", "model")
        )
        if done and not changed:
            raise IntentforgeError(
                f"run {run_dir} is already complete: merge it with `intentforge merge`, or pass "
                "--restart to train it again"
            )
        restart = changed or (run_dir / "summary.json").is_file()
    if run_dir.exists() and restart:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / ".config.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(config_path)


def save_checkpoint(
    run_dir: Path,
    model: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    **position: Any,
) -> None:
    """Write the checkpoint beside the old one, then swap: a kill mid-write loses nothing."""
    import torch
    from safetensors.torch import save_file

    target = run_dir / "checkpoint"
    tmp = run_dir / "checkpoint.tmp"
    old = run_dir / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {
        k: v.detach().cpu().contiguous() for k, v in model.named_parameters() if v.requires_grad
    }
    save_file(weights, tmp / "weights.safetensors")
    torch.save(
        {
            **position,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        },
        tmp / "state.pt",
    )
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(
    run_dir: Path, model: PreTrainedModel, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Restore the newest complete checkpoint into model, optimiser, scheduler and RNG; return the
    loop's saved position, or the start of training when there is none.

    `checkpoint/` is only ever a fully written checkpoint (it is renamed into place); a kill
    between the two renames of `save_checkpoint` leaves the previous one as `checkpoint.old`, and
    a half-written `checkpoint.tmp` is never read.
    """
    import torch
    from safetensors.torch import load_file

    fresh = {"step": 0, "epoch": 0, "next_batch": 0, "eval_losses": [], "elapsed_s": 0.0}
    for candidate in (run_dir / "checkpoint", run_dir / "checkpoint.old"):
        if _is_complete(candidate):
            state: dict[str, Any] = torch.load(candidate / "state.pt", weights_only=True)
            _, unexpected = model.load_state_dict(
                load_file(candidate / "weights.safetensors"), strict=False
            )
            if unexpected:
                raise IntentforgeError(f"{candidate} does not match the model: pass --restart")
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
            return state
    return fresh


def _is_complete(checkpoint: Path) -> bool:
    return (checkpoint / "state.pt").is_file() and (checkpoint / "weights.safetensors").is_file()


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after the checkpoint a resumed run restarts from."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            break  # a line cut short by the kill
        if entry.get("step", 0) > step:
            break
        kept.append(line)
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
