"""Read and write JSONL datasets: one row per line, validated against the catalogue.

Rows look like {"id", "text", "intent", "parameters", "source"} plus optional extra keys ("style").
A request holding several requests ("add milk and what's the weather") adds `calls`: the calls in
the order said (2 to MAX_CALLS of {"intent", "parameters"}), the first one also at the top level so
that single-call readers keep working. `row_calls` gives any row's calls.
`read_dataset` is the one reader of labelled rows (generation, split, training, evaluation,
speechify); its errors say `path:line: what is wrong`. Writes are atomic (temp file, fsync,
rename) so a killed run never leaves half a dataset behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.catalogue.grammar import MAX_CALLS
from intentforge.errors import IntentforgeError

SOURCES = ("templates", "llm", "dev", "speech")
REQUIRED_KEYS = ("id", "text", "intent", "parameters", "source")


def _lines(path: Path) -> list[str]:
    """The lines of one JSONL file; one that cannot be read is an IntentforgeError `path: why`."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise IntentforgeError(
            f"{path}: dataset not found; make one with `intentforge data generate` or pass an "
            "existing JSONL file or folder of them"
        ) from None
    except IsADirectoryError:
        raise IntentforgeError(f"{path}: a directory, not a JSONL dataset file") from None
    except UnicodeDecodeError as exc:
        raise IntentforgeError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise IntentforgeError(f"{path}: cannot be read ({exc.strerror})") from None


def _object(line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IntentforgeError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise IntentforgeError("expected a JSON object, one per line")
    return row


def numbered_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line, unvalidated; errors say `path:line: why`."""
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = _object(line)
        except IntentforgeError as exc:
            raise IntentforgeError(f"{path}:{number}: {exc}") from None
        yield number, row


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object in `path` (blank lines skipped), unvalidated."""
    return [row for _, row in numbered_rows(path)]


def validate_row(row: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """The row with its parameters in canonical form; IntentforgeError says what is wrong."""
    _require(row, REQUIRED_KEYS)
    if not isinstance(row["text"], str) or not row["text"].strip():
        raise IntentforgeError("row text must be a non-empty string")
    if not isinstance(row["id"], str) or not row["id"]:
        raise IntentforgeError("row id must be a non-empty string")
    if row["source"] not in SOURCES:
        raise IntentforgeError(f"row source {row['source']!r} is not one of {', '.join(SOURCES)}")
    call = catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})
    out = {**row, "intent": call.intent, "parameters": call.parameters}
    if "calls" in row:
        calls = [catalogue.validate(c).to_dict() for c in _calls(row)]
        if calls[0] != call.to_dict():
            raise IntentforgeError("row intent and parameters must be its first call's")
        out["calls"] = calls
    return out


def row_calls(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The calls a row is labelled with, in the order said: `calls`, else its one call."""
    if "calls" in row:
        return [dict(c) for c in row["calls"]]
    return [{"intent": row["intent"], "parameters": dict(row.get("parameters") or {})}]


def _calls(row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A row's `calls`, checked for shape: 2 to MAX_CALLS objects."""
    calls = row["calls"]
    if not isinstance(calls, list) or not 2 <= len(calls) <= MAX_CALLS:
        raise IntentforgeError(f"row calls must be a list of 2 to {MAX_CALLS} calls")
    if not all(isinstance(c, Mapping) and "intent" in c for c in calls):
        raise IntentforgeError('each of row calls must be an object {"intent", "parameters"}')
    return calls


def _require(row: Mapping[str, Any], keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise IntentforgeError(f"row lacks the key(s) {', '.join(missing)}")


def _jsonl_files(path: Path) -> list[Path]:
    """`path` itself, or every *.jsonl in the folder `path`, in name order."""
    if not path.is_dir():
        return [path]
    files = sorted(path.glob("*.jsonl"))
    if not files:
        raise IntentforgeError(f"{path}: no *.jsonl files in this folder")
    return files


def read_dataset(
    paths: Path | Sequence[Path],
    catalogue: Catalogue | None = None,
    *,
    skipped: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Labelled rows from JSONL files (a folder: every *.jsonl inside, in name order).

    With a `catalogue`, every row is a dataset row (`REQUIRED_KEYS`, a known source) that the
    catalogue accepts, returned with canonical parameters. Without one, rows are gold labels to
    evaluate on: `text` and `intent` are required, `id` defaults to `<file stem>-<line>` and
    `parameters` to {} (they are checked against the catalogue when predicted).

    Strict by default: the first problem (a file missing, unreadable or without rows, a line that is
    not a JSON object, a row that does not validate) raises IntentforgeError `path:line: what is
    wrong` (`path: what is wrong` for a whole file). Lenient when `skipped` is a list: each such
    problem is appended to it as that same message, and the rows that are fine are returned.
    """

    def reject(message: str) -> None:
        if skipped is None:
            raise IntentforgeError(message)
        skipped.append(message)

    rows: list[dict[str, Any]] = []
    for path in [paths] if isinstance(paths, Path) else paths:
        try:
            files = _jsonl_files(Path(path))
        except IntentforgeError as exc:
            reject(str(exc))
            continue
        for file in files:
            try:
                lines = _lines(file)
            except IntentforgeError as exc:
                reject(str(exc))
                continue
            if not any(line.strip() for line in lines):
                reject(f"{file}: no rows (the file is empty)")
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(_labelled(_object(line), catalogue, f"{file.stem}-{number}"))
                except IntentforgeError as exc:
                    reject(f"{file}:{number}: {exc}")
    return rows


def _labelled(row: dict[str, Any], catalogue: Catalogue | None, default_id: str) -> dict[str, Any]:
    if catalogue is not None:
        return validate_row(row, catalogue)
    _require(row, ("text", "intent"))
    row.setdefault("id", default_id)
    row.setdefault("parameters", {})
    if "calls" in row:
        row["calls"] = [{"parameters": {}, **c} for c in _calls(row)]
    return row


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
