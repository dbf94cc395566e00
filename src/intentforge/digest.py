"""The sha256 of a file: what a model manifest promises, a training run records of its data, and a
build stage compares to decide whether its output changed.

It lives apart so that `train` and `pipeline` can record digests without importing `export`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20


def sha256_file(path: Path, chunk_bytes: int = CHUNK_BYTES) -> str:
    """The hex sha256 of a file, read in chunks (models are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
