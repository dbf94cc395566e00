"""The manifest beside every exported model: `<file>.gguf.json` says what it is and how to check it.

It travels with the model (publish uploads both) so whoever deploys it knows the sha256 the init
container must verify, which base and quantization it came from and how well it scored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from intentforge import __version__
from intentforge.digest import sha256_file
from intentforge.errors import IntentforgeError

MANIFEST_VERSION = 1


class ModelManifest(BaseModel):
    """What `<model>.gguf.json` holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_version: int = MANIFEST_VERSION
    file: str = Field(description="File name of the model, relative to the manifest.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    quantization: str
    base: str = Field(description="Base model preset, hub id or directory it was trained from.")
    created: datetime
    intentforge_version: str
    eval: dict[str, Any] | None = Field(None, description="Evaluation summary, None if not run.")
    refuse_at: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Out-of-scope threshold calibrated on held-out generated rows; the runtime "
        "uses it unless runtime.refuse_at is set. None: not calibrated.",
    )


def manifest_path(model_path: Path) -> Path:
    """Where the manifest of `model_path` lives: the same name plus `.json`."""
    return model_path.with_name(model_path.name + ".json")


def write_manifest(
    gguf_path: Path,
    *,
    quantization: str,
    base: str,
    eval_summary: Mapping[str, Any] | None = None,
) -> Path:
    """Hash `gguf_path` and write its manifest beside it; return the manifest's path."""
    if not gguf_path.is_file():
        raise IntentforgeError(f"model file not found: {gguf_path}")
    manifest = ModelManifest(
        file=gguf_path.name,
        sha256=sha256_file(gguf_path),
        size_bytes=gguf_path.stat().st_size,
        quantization=quantization,
        base=base,
        created=datetime.now(UTC).replace(microsecond=0),
        intentforge_version=__version__,
        eval=dict(eval_summary) if eval_summary is not None else None,
    )
    return _write(gguf_path, manifest)


def _write(model_path: Path, manifest: ModelManifest) -> Path:
    path = manifest_path(model_path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def update_manifest(model_path: Path, **fields: Any) -> ModelManifest:
    """Rewrite the manifest beside `model_path` with `fields` changed (atomically)."""
    manifest = ModelManifest.model_validate({**read_manifest(model_path).model_dump(), **fields})
    _write(model_path, manifest)
    return manifest


def read_manifest(model_path: Path) -> ModelManifest:
    """Load the manifest beside `model_path` (its name plus `.json`)."""
    path = manifest_path(model_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntentforgeError(
            f"no manifest {path}: `intentforge export` writes one beside every model"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntentforgeError(f"manifest {path} is not valid JSON: {exc}") from None
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise IntentforgeError(f"manifest {path} is invalid at {where}: {first['msg']}") from None


def verify_manifest(model_path: Path) -> ModelManifest:
    """Check `model_path` against its manifest (name, size, sha256); return the manifest."""
    if not model_path.is_file():
        raise IntentforgeError(f"model file not found: {model_path}")
    manifest = read_manifest(model_path)
    if manifest.file != model_path.name:
        raise IntentforgeError(
            f"manifest {manifest_path(model_path)} describes {manifest.file}, not {model_path.name}"
        )
    size = model_path.stat().st_size
    if size != manifest.size_bytes or sha256_file(model_path) != manifest.sha256:
        raise IntentforgeError(
            f"{model_path} does not match its manifest (size or sha256 differ): re-export it"
        )
    return manifest
