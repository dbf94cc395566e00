"""Durable action state in SQLite: idempotency records and pending confirmations.

One small file under `actions.state_dir`, safe across threads and processes (each call opens its
own connection; claims take a write lock), so a retried request, even after a restart, finds the
first one's result instead of acting twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from intentforge.actions.result import ActionResult
from intentforge.errors import IntentforgeError

# A claim older than this belongs to a process that died mid-action: the key may be reused. The
# upstream request id stays the same, so Todoist itself still drops a duplicate task.
_STALE_CLAIM_S = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS confirmations (
    token TEXT PRIMARY KEY,
    intent TEXT NOT NULL,
    plan TEXT NOT NULL,
    context TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
"""


def fingerprint(*parts: Any) -> str:
    """A stable hash of a request, to tell a retry from a different request under the same key."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an idempotency key."""

    kind: Literal["new", "replay"]
    result: ActionResult | None = None


@dataclass(frozen=True)
class PendingConfirmation:
    token: str
    intent: str
    plan: dict[str, Any]
    context: dict[str, Any]
    used: bool


class ActionStore:
    """Idempotency keys and confirmation tokens, persisted in `<state_dir>/actions.sqlite3`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "actions.sqlite3"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise IntentforgeError(
                f"cannot open the action state file {self.path}: {exc}; "
                "set actions.state_dir to a writable folder",
                status_code=503,
            ) from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def claim(self, key: str, request_fingerprint: str) -> Claim:
        """Reserve `key` for this request, or return the result stored under it.

        Raises IntentforgeError (409) when the key belongs to a different request or to one that is
        still running.
        """
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT fingerprint, state, result, updated_at FROM idempotency WHERE key = ?",
                (key,),
            ).fetchone()
            if row is not None:
                stored_fingerprint, state, result, updated_at = row
                if stored_fingerprint != request_fingerprint:
                    raise IntentforgeError(
                        f"idempotency key {key!r} was already used for a different request; "
                        "use a new key for a new request",
                        status_code=409,
                    )
                if state == "done":
                    return Claim("replay", ActionResult.model_validate_json(result))
                if now - updated_at < _STALE_CLAIM_S:
                    raise IntentforgeError(
                        f"a request with idempotency key {key!r} is still running; "
                        "retry in a few seconds",
                        status_code=409,
                    )
            db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, 'running', NULL, ?)",
                (key, request_fingerprint, now),
            )
        return Claim("new")

    def finish(self, key: str, result: ActionResult) -> None:
        """Store the result a retry with `key` will get back."""
        with self._write() as db:
            db.execute(
                "UPDATE idempotency SET state = 'done', result = ?, updated_at = ? WHERE key = ?",
                (result.model_dump_json(), time.time(), key),
            )

    def release(self, key: str) -> None:
        """Forget a claim whose action did not happen, so a retry runs it again."""
        with self._write() as db:
            db.execute("DELETE FROM idempotency WHERE key = ? AND state = 'running'", (key,))

    def add_confirmation(
        self, intent: str, plan: Mapping[str, Any], context: Mapping[str, Any], ttl_s: float
    ) -> str:
        """Store a plan awaiting the user's yes; returns the unguessable token that confirms it."""
        token = secrets.token_urlsafe(16)
        now = time.time()
        with self._write() as db:
            db.execute("DELETE FROM confirmations WHERE expires_at < ?", (now - 86400,))
            db.execute(
                "INSERT INTO confirmations VALUES (?, ?, ?, ?, ?, NULL)",
                (token, intent, json.dumps(plan), json.dumps(context), now + ttl_s),
            )
        return token

    def get_confirmation(self, token: str) -> PendingConfirmation | None:
        """The pending plan for `token`; None when unknown or expired (a used one is returned)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT intent, plan, context, expires_at, used_at FROM confirmations "
                "WHERE token = ?",
                (token,),
            ).fetchone()
        if row is None:
            return None
        intent, plan, context, expires_at, used_at = row
        if used_at is None and expires_at < time.time():
            return None
        return PendingConfirmation(
            token, intent, json.loads(plan), json.loads(context), used_at is not None
        )

    def mark_confirmation_used(self, token: str) -> None:
        with self._write() as db:
            db.execute("UPDATE confirmations SET used_at = ? WHERE token = ?", (time.time(), token))
