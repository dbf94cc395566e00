"""The executor interface: plan (no side effects), then run; plus what every executor is given."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx

from intentforge.actions.result import ActionResult, ActionStatus, Plan
from intentforge.catalogue import IntentCall
from intentforge.config import ActionsConfig
from intentforge.secrets import Secrets

# Request ids sent upstream (Todoist's X-Request-Id, e-mail Message-ID) derive from the caller's
# idempotency key, so a retry after a crash sends the same id and the service can drop the copy.
_REQUEST_ID_NAMESPACE = uuid.UUID("6f1d7c2e-4a53-4c8e-9a57-6e1f3b0d2a91")


def request_id_for(idempotency_key: str | None) -> str:
    """A 36-character id: stable for a given key, random without one."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, idempotency_key))


@dataclass
class ActionContext:
    """Everything an executor may use; executors read no globals and no environment."""

    config: ActionsConfig
    secrets: Secrets
    http: httpx.Client
    now: datetime
    resolved: Mapping[str, Any] = field(default_factory=dict)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sleep: Callable[[float], None] | None = None


class Executor(Protocol):
    """Carries out one kind of intent (named by `Intent.action` in the catalogue).

    `credentials_hint` says how to set up what `has_credentials` checks.
    `plan` validates and resolves everything it can without side effects and returns a Plan, or an
    ActionResult when it cannot go on (a clarifying question, a missing setting). `run` executes a
    plan. Read-only executors (`side_effects = False`) run even in dry-run mode.
    """

    name: ClassVar[str]
    side_effects: ClassVar[bool]
    plan_type: ClassVar[type[Plan]]
    credentials_hint: ClassVar[str]

    def has_credentials(self, ctx: ActionContext) -> bool: ...

    def needs_confirmation(self, ctx: ActionContext) -> bool: ...

    def plan(self, call: IntentCall, ctx: ActionContext) -> Plan | ActionResult: ...

    def run(self, plan: Plan, ctx: ActionContext) -> ActionResult: ...


def result(
    status: ActionStatus,
    reply: str,
    data: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> ActionResult:
    """An executor's result; the runner fills in `intent` and `action`."""
    return ActionResult(status=status, reply=reply, data=dict(data or {}), error=error)


def rejected(reply: str, status: int) -> ActionResult:
    """The service refused the request (4xx): `reply` says why, in words."""
    return result(ActionStatus.FAILED, reply, {"upstream_status": status}, "upstream_rejected")


def unreachable(reply: str, reason: str) -> ActionResult:
    """The service failed on every attempt (5xx, timeout): `reply` says what did not happen."""
    return result(ActionStatus.FAILED, reply, {"reason": reason}, "upstream_down")


def resolved_iso(resolved: Mapping[str, Any], slot: str) -> str | None:
    """The runtime's ISO value for a date slot: `{slot: {"text", "iso"}}` or `{slot + "_iso"}`."""
    value = resolved.get(slot)
    value = value.get("iso") if isinstance(value, Mapping) else resolved.get(f"{slot}_iso")
    return value if isinstance(value, str) and value else None


def quoted(text: str) -> str:
    """Text as it is quoted in spoken replies."""
    return f"'{text}'"


def spoken_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
