"""GGUF export: llama.cpp's converter and quantizer, recorded sizes and hashes, clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intentforge.errors import IntentforgeError
from intentforge.export.fetch import sha256_file
from intentforge.export.gguf import QUANTIZATIONS, ensure_converter, export, quantize


def test_export_writes_each_quantization_with_sha256_size_and_manifest(tiny_export) -> None:
    by_quant = {m.quantization: m for m in tiny_export}
    assert set(by_quant) == {"q8_0", "q4_k_m"}
    for model in tiny_export:
        assert model.path.name == f"tiny.{model.quantization}.gguf"
        assert model.path.read_bytes()[:4] == b"GGUF"
        assert model.sha256 == sha256_file(model.path)
        assert model.size_bytes == model.path.stat().st_size
        manifest = json.loads(model.manifest.read_text())
        assert manifest["sha256"] == model.sha256 and manifest["quantization"] == model.quantization
        assert manifest["base"] == "tiny-llama"
    assert by_quant["q4_k_m"].size_bytes < by_quant["q8_0"].size_bytes
    assert not (by_quant["q8_0"].path.parent / "tiny.f16.gguf").exists()  # intermediate removed


def test_quantized_files_load_in_llama_cpp_with_the_right_types(tiny_export) -> None:
    import gguf
    from llama_cpp import Llama

    for model in tiny_export:
        llm = Llama(str(model.path), n_ctx=64, n_threads=1, verbose=False)
        assert llm.n_vocab() == 49152
        assert llm.token_eos() == 2  # <|im_end|>: the token the fine-tune ends answers with
        llm.close()
        reader = gguf.GGUFReader(model.path)
        kinds = {t.tensor_type.name for t in reader.tensors if t.name.endswith("attn_q.weight")}
        assert kinds == {"Q8_0" if model.quantization == "q8_0" else "Q4_K"}


def test_f16_is_kept_when_asked_for(tiny_merged: Path, tmp_path: Path) -> None:
    from tiny_model import converter_cache

    [model] = export(
        tiny_merged, name="t", out_dir=tmp_path, quantizations=["f16"], base="tiny",
        cache_dir=converter_cache(),
    )  # fmt: skip
    assert model.path == tmp_path / "t.f16.gguf" and model.path.is_file()


def test_unknown_quantization_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(IntentforgeError, match="q4_k_m, q8_0, f16"):
        export(
            tmp_path, name="x", out_dir=tmp_path, quantizations=["q3_weird"], base="b",
            cache_dir=tmp_path,
        )  # fmt: skip
    with pytest.raises(IntentforgeError, match="unknown quantization"):
        quantize(tmp_path / "a.gguf", tmp_path / "b.gguf", "q2")
    assert set(QUANTIZATIONS) == {"q4_k_m", "q8_0", "f16"}


def test_unobtainable_converter_fails_clearly(tmp_path: Path, monkeypatch) -> None:
    # pip with no index cannot find the sdist, exactly as on a machine without PyPI.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(IntentforgeError, match=r"could not fetch llama.cpp's GGUF converter"):
        ensure_converter(tmp_path, version="0.3.36")


def test_corrupt_cached_sdist_fails_clearly(tmp_path: Path) -> None:
    sdist = tmp_path / "sdist" / "llama_cpp_python-0.3.36.tar.gz"
    sdist.parent.mkdir()
    sdist.write_bytes(b"not a tarball")
    with pytest.raises(IntentforgeError, match="unreadable"):
        ensure_converter(tmp_path, version="0.3.36")


def test_export_without_merged_model_says_merge_first(tmp_path: Path) -> None:
    with pytest.raises(IntentforgeError, match="intentforge merge"):
        export(
            tmp_path / "nothing", name="x", out_dir=tmp_path, quantizations=["q8_0"], base="b",
            cache_dir=tmp_path,
        )  # fmt: skip
