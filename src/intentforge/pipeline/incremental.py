"""Content-addressed stages: a stage reruns only when its inputs (config and files) changed.

Each stage records, in `<state_dir>/<stage>.json` (`build.state_dir`, `build/stages/` by default),
the fingerprint of its inputs and the sha256 of every output. A rerun skips a stage whose
fingerprint matches and whose outputs are still there and unchanged, so a crash or a config edit
redoes only what it must.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intentforge.digest import sha256_file


def tree_sha256(path: Path) -> str:
    """sha256 of a file, or of a directory's files (names and contents, in sorted order)."""
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(child.relative_to(path)).encode())
        digest.update(sha256_file(child).encode())
    return digest.hexdigest()


@dataclass
class Stage:
    """One step of the build: `run` must create every path in `outputs`."""

    name: str
    params: Mapping[str, Any]
    inputs: Sequence[Path]
    outputs: Sequence[Path]
    run: Callable[[], None]
    describe: str = ""

    def fingerprint(self) -> str:
        payload = {
            "params": self.params,
            "inputs": {str(p): tree_sha256(p) for p in self.inputs},
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class StageOutcome:
    name: str
    skipped: bool
    seconds: float
    outputs: dict[str, int] = field(default_factory=dict)  # path -> size in bytes


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def is_current(stage: Stage, state_dir: Path, fingerprint: str | None = None) -> bool:
    """Whether `stage` ran with these inputs and its outputs are still as it left them."""
    record_path = state_dir / f"{stage.name}.json"
    fingerprint = fingerprint or stage.fingerprint()
    if not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return False
    if record.get("fingerprint") != fingerprint:
        return False
    recorded = record.get("outputs", {})
    for out in stage.outputs:
        if not out.exists() or recorded.get(str(out)) != tree_sha256(out):
            return False
    return True


def run_stages(
    stages: Sequence[Stage],
    state_dir: Path,
    *,
    force: bool = False,
    on_start: Callable[[Stage, bool], None] | None = None,
) -> list[StageOutcome]:
    """Run stages in order, skipping each one whose inputs and outputs are unchanged.

    `on_start(stage, skipped)` is called before each stage (for progress display).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for stage in stages:
        record_path = state_dir / f"{stage.name}.json"
        fingerprint = stage.fingerprint()
        skipped = not force and is_current(stage, state_dir, fingerprint)
        if on_start:
            on_start(stage, skipped)
        started = time.perf_counter()
        if not skipped:
            record_path.unlink(missing_ok=True)  # a crash mid-stage must not look finished
            stage.run()
            missing = [str(p) for p in stage.outputs if not p.exists()]
            if missing:
                raise RuntimeError(f"stage {stage.name} did not create {', '.join(missing)}")
            record = {
                "fingerprint": fingerprint,
                "params": stage.params,
                "outputs": {str(p): tree_sha256(p) for p in stage.outputs},
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            tmp = record_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
            tmp.replace(record_path)
        outcomes.append(
            StageOutcome(
                stage.name,
                skipped,
                time.perf_counter() - started,
                {str(p): _size(p) for p in stage.outputs},
            )
        )
    return outcomes
