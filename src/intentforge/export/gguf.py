"""Merged model -> GGUF with llama.cpp's own converter, then quantized with llama.cpp itself.

The converter (`convert_hf_to_gguf.py`, its `conversion/` package and `gguf-py/`) is in no wheel,
but the llama-cpp-python sdist vendors the exact llama.cpp that the installed binding runs. It is
fetched once with pip for the installed version and unpacked into the cache, never into the repo.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from intentforge.errors import IntentforgeError
from intentforge.export.manifest import read_manifest, write_manifest

if TYPE_CHECKING:
    from rich.progress import Progress

# Our names -> llama.cpp `llama_ftype` constant names.
QUANTIZATIONS = {
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
}
_CONVERTER_MEMBERS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


@dataclass(frozen=True)
class ExportedModel:
    path: Path
    quantization: str
    sha256: str
    size_bytes: int
    manifest: Path


def llama_cpp_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        raise IntentforgeError(
            "llama-cpp-python is not installed: `pip install llama-cpp-python==0.3.36`"
        ) from None


def ensure_converter(cache_dir: Path, version: str | None = None) -> Path:
    """Path of `convert_hf_to_gguf.py` for llama-cpp-python `version` (default: the installed one),
    fetched from PyPI into `cache_dir` on first use."""
    version = version or llama_cpp_version()
    root = cache_dir.expanduser() / f"llama.cpp-converter-{version}"
    script = root / "convert_hf_to_gguf.py"
    if script.is_file() and (root / "conversion").is_dir() and (root / "gguf-py").is_dir():
        return script
    sdist_dir = cache_dir.expanduser() / "sdist"
    sdist = sdist_dir / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.is_file():
        _download_sdist(version, sdist_dir)
    if not sdist.is_file():
        raise IntentforgeError(f"pip did not produce {sdist}: place that sdist there by hand")
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    try:
        with tarfile.open(sdist) as tar:
            members = []
            for member in tar.getmembers():
                if not member.name.startswith(prefix):
                    continue
                rel = member.name[len(prefix) :]
                if rel.startswith(_CONVERTER_MEMBERS) or rel in _CONVERTER_MEMBERS:
                    member.name = rel
                    members.append(member)
            tar.extractall(tmp, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise IntentforgeError(
            f"{sdist} is unreadable ({exc}): delete it and export again"
        ) from None
    if not (tmp / "convert_hf_to_gguf.py").is_file():
        raise IntentforgeError(f"{sdist} holds no vendor/llama.cpp/convert_hf_to_gguf.py")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    # The 76 MB sdist is not needed once the converter (~2 MB) is out of it.
    sdist.unlink()
    return script


def _download_sdist(version: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
        "--disable-pip-version-check", "--quiet", f"llama-cpp-python=={version}", "-d", str(dest),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with {done.returncode}"
        raise IntentforgeError(
            f"could not fetch llama.cpp's GGUF converter (sdist of llama-cpp-python=={version}) "
            f"from PyPI: {reason}; connect to PyPI once, or put llama_cpp_python-{version}.tar.gz "
            f"into {dest}"
        )


def convert_to_gguf(merged_dir: Path, out_path: Path, *, cache_dir: Path) -> Path:
    """Write `merged_dir` (safetensors + tokenizer) as an f16 GGUF file."""
    if not (merged_dir / "config.json").is_file():
        raise IntentforgeError(f"no merged model in {merged_dir}: run `intentforge merge` first")
    script = ensure_converter(cache_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    # The converter puts its own gguf-py (next to it) first on sys.path: no PYTHONPATH needed.
    command = [
        sys.executable, str(script), str(merged_dir), "--outfile", str(tmp), "--outtype", "f16",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise IntentforgeError(f"GGUF conversion of {merged_dir} failed: {reason}")
    tmp.replace(out_path)
    return out_path


def quantize(source: Path, target: Path, quantization: str, *, threads: int = 2) -> Path:
    """Quantize a GGUF file with llama.cpp (`llama_model_quantize`)."""
    import llama_cpp

    if quantization not in QUANTIZATIONS:
        raise IntentforgeError(
            f"unknown quantization {quantization!r}: choose from {', '.join(QUANTIZATIONS)}"
        )
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANTIZATIONS[quantization])
    params.nthread = threads
    tmp = target.with_name(target.name + ".tmp")
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(tmp).encode(), ctypes.byref(params)
    )
    if status != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise IntentforgeError(f"llama.cpp could not quantize {source} to {quantization}")
    tmp.replace(target)
    return target


def export(
    merged_dir: Path,
    *,
    name: str,
    out_dir: Path,
    quantizations: Sequence[str],
    base: str,
    cache_dir: Path,
    threads: int = 2,
    progress: Progress | None = None,
) -> list[ExportedModel]:
    """Convert `merged_dir`; write `<out_dir>/<name>.<quant>.gguf` + manifest per quantization."""
    unknown = [q for q in quantizations if q not in QUANTIZATIONS]
    if unknown or not quantizations:
        raise IntentforgeError(
            f"unknown quantization {unknown[0] if unknown else '(none)'}: "
            f"choose from {', '.join(QUANTIZATIONS)}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    f16_path = out_dir / f"{name}.f16.gguf"
    keep_f16 = "f16" in quantizations
    task = progress.add_task("export", total=1 + len(quantizations)) if progress else None
    convert_to_gguf(merged_dir, f16_path, cache_dir=cache_dir)
    if progress is not None and task is not None:
        progress.advance(task)
    exported = []
    try:
        for quantization in dict.fromkeys(quantizations):
            path = out_dir / f"{name}.{quantization}.gguf"
            if quantization != "f16":
                quantize(f16_path, path, quantization, threads=threads)
            manifest = write_manifest(path, quantization=quantization, base=base)
            recorded = read_manifest(path)
            exported.append(
                ExportedModel(
                    path=path,
                    quantization=quantization,
                    sha256=recorded.sha256,
                    size_bytes=recorded.size_bytes,
                    manifest=manifest,
                )
            )
            if progress is not None and task is not None:
                progress.advance(task)
    finally:
        if not keep_f16:
            f16_path.unlink(missing_ok=True)
    return exported
