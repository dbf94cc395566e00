"""Read and write JSONL datasets: one row per line, validated against the catalogue.

Rows look like {"id", "text", "intent", "parameters", "source"} plus optional extra keys ("style").
Writes are atomic (temp file, fsync, rename) so a killed run never leaves half a dataset behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.errors import IntentforgeError

SOURCES = ("templates", "llm", "dev", "speech")
REQUIRED_KEYS = ("id", "text", "intent", "parameters", "source")


def numbered_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; errors name the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise IntentforgeError(f"dataset file not found: {path}") from None
    except IsADirectoryError:
        raise IntentforgeError(f"{path} is a directory, not a JSONL dataset file") from None
    except UnicodeDecodeError as exc:
        raise IntentforgeError(f"{path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise IntentforgeError(f"cannot read {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IntentforgeError(
                f"{path} line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(row, dict):
            raise IntentforgeError(f"{path} line {number}: expected a JSON object, one per line")
        yield number, row


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object in `path` (blank lines skipped), unvalidated."""
    return [row for _, row in numbered_rows(path)]


def validate_row(row: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """The row with its parameters in canonical form; IntentforgeError says what is wrong."""
    missing = [k for k in REQUIRED_KEYS if k not in row]
    if missing:
        raise IntentforgeError(f"row lacks the key(s) {', '.join(missing)}")
    if not isinstance(row["text"], str) or not row["text"].strip():
        raise IntentforgeError("row text must be a non-empty string")
    if not isinstance(row["id"], str) or not row["id"]:
        raise IntentforgeError("row id must be a non-empty string")
    if row["source"] not in SOURCES:
        raise IntentforgeError(f"row source {row['source']!r} is not one of {', '.join(SOURCES)}")
    call = catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})
    return {**row, "intent": call.intent, "parameters": call.parameters}


def read_dataset(path: Path, catalogue: Catalogue) -> list[dict[str, Any]]:
    """Read and validate a dataset; the first bad row stops it, naming file and line."""
    rows = []
    for number, row in numbered_rows(path):
        try:
            rows.append(validate_row(row, catalogue))
        except IntentforgeError as exc:
            raise IntentforgeError(f"{path} line {number}: {exc}") from None
    return rows


def check_writable(path: Path) -> None:
    """Fail now, before a long run, if a file cannot be written at `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise IntentforgeError(
            f"cannot write {path}: {exc.strerror or exc}; choose a writable output location"
        ) from None


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows atomically: readers see the old file or the complete new one, never a part."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise IntentforgeError(
            f"cannot write {path}: {exc.strerror or exc}; choose a writable output location"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise IntentforgeError(
                f"cannot write {path}: {exc.strerror or exc}; choose a writable output location"
            ) from None
        raise
