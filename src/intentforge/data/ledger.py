"""An append-only JSONL ledger of generated rows that survives being killed at any instant.

Rows are appended in checkpoints: one `write` of whole lines, then `fsync`. A run killed mid-write
can leave at most a torn last line; opening the ledger cuts it away, so every complete line is a
row that was checkpointed and resuming never duplicates or loses one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from intentforge.catalogue import Catalogue
from intentforge.errors import IntentforgeError

ROW_KEYS = ("id", "text", "intent", "parameters", "source")


class Ledger:
    """A JSONL ledger opened for appending, locked against a second writer while open.

    `rows` holds the rows already in the file when it was opened (a torn trailing line removed).
    """

    def __init__(self, path: Path, catalogue: Catalogue) -> None:
        self.path = path
        self._catalogue = catalogue
        self._fd = -1
        self.rows: list[dict[str, Any]] = []
        self.truncated_bytes = 0

    def __enter__(self) -> Ledger:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Create or open the file, take the lock, drop a torn tail and read the rows."""
        created = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise IntentforgeError(
                f"cannot write the ledger {self.path}: {exc.strerror}; choose a writable path"
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise IntentforgeError(
                f"another run is already writing {self.path}; wait for it or use another file"
            ) from None
        try:
            if created:
                _fsync_dir(self.path.parent)
            self.rows = self._read()
        except BaseException:
            self.close()  # a ledger that cannot be resumed must not stay locked
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the lock
            self._fd = -1

    def _read(self) -> list[dict[str, Any]]:
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0) if size else b""
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # A checkpoint torn by a kill: its complete lines stay, the partial one goes.
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
            self.truncated_bytes = len(data) - end
            data = data[:end]
        rows = []
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            rows.append(self._parse(line, number))
        return rows

    def _parse(self, line: bytes, number: int) -> dict[str, Any]:
        where = f"{self.path}:{number}:"
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise IntentforgeError(
                f"{where} not valid JSON; delete that line (or the file) and rerun"
            ) from None
        if not isinstance(row, dict) or any(k not in row for k in ROW_KEYS):
            raise IntentforgeError(f"{where} not a dataset row with keys {', '.join(ROW_KEYS)}")
        try:
            self._catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})
        except IntentforgeError as exc:
            raise IntentforgeError(
                f"{where} does not fit the current catalogue ({exc}); use a new ledger file"
            ) from None
        return row

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Write `rows` as one checkpoint and fsync it; returns how many were written."""
        if self._fd < 0:
            raise RuntimeError("ledger is not open")
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows]
        if not lines:
            return 0
        data = "".join(lines).encode("utf-8")
        try:
            written = 0
            while written < len(data):  # one write() for a regular file unless the disk fills
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError as exc:
            raise IntentforgeError(
                f"cannot append to the ledger {self.path}: {exc.strerror}"
            ) from None
        return len(lines)


def _fsync_dir(directory: Path) -> None:
    """Make a newly created file's directory entry durable too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
