"""What every action returns: a status, one spoken sentence, and typed data."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ActionStatus(StrEnum):
    DONE = "done"
    DRY_RUN = "dry_run"
    NEEDS_CONFIRMATION = "needs_confirmation"
    NEEDS_CLARIFICATION = "needs_clarification"
    FAILED = "failed"


class ActionResult(BaseModel):
    """The outcome of one intent call. `reply` is one sentence meant to be spoken back."""

    intent: str = ""
    action: str | None = Field(
        default=None, description="The executor that handled it (None for 'none')."
    )
    status: ActionStatus
    reply: str
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = Field(
        default=None,
        description="Machine-readable reason when not done: 'unknown_contact', 'upstream_down'.",
    )
    confirmation_token: str | None = Field(
        default=None, description="Send it back (act --confirm / {'confirm': ...}) to go ahead."
    )
    idempotency_key: str | None = None
    replayed: bool = Field(
        default=False,
        description="True when this is the stored result of an earlier identical request.",
    )


def joined_reply(replies: Sequence[str]) -> str:
    """What to say back for the calls of one request: each call's reply, in order."""
    return " ".join(r.strip() for r in replies if r.strip())


class Plan(BaseModel):
    """What an executor is about to do, decided before any side effect.

    Dry-run and confirmation show `summary`/`question`; the confirmed plan is stored and executed as
    it was shown, so what the user agreed to is exactly what happens.
    """

    summary: str = Field(
        description="Infinitive phrase: \"add 'buy milk' to Inbox, due tomorrow\"."
    )
    question: str = Field(
        default="", description="Asked before side effects that need confirmation."
    )
