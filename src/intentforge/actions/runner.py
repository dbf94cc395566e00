"""Run an intent call through its executor under the policy: dry-run, confirmation, idempotency."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from intentforge.actions.base import ActionContext, Executor, request_id_for, result
from intentforge.actions.email import SmtpExecutor
from intentforge.actions.policy import is_dry_run
from intentforge.actions.result import ActionResult, ActionStatus, Plan
from intentforge.actions.store import ActionStore, fingerprint
from intentforge.actions.todoist import TodoistExecutor
from intentforge.actions.weather import OpenMeteoExecutor
from intentforge.catalogue import OUT_OF_SCOPE, Catalogue, IntentCall
from intentforge.config import Settings
from intentforge.errors import IntentforgeError
from intentforge.runtime.dates import zone
from intentforge.secrets import Secrets

log = logging.getLogger(__name__)

NONE_REPLY = "Sorry, I can't help with that yet."

EXECUTORS: dict[str, Executor] = {
    e.name: e for e in (TodoistExecutor(), OpenMeteoExecutor(), SmtpExecutor())
}


def executor_for(action: str) -> Executor:
    """A built-in executor by name, or a user's one given as 'package.module:attribute'."""
    if action in EXECUTORS:
        return EXECUTORS[action]
    module_name, _, attr = action.partition(":")
    if not attr:
        known = ", ".join(EXECUTORS)
        raise IntentforgeError(
            f"unknown action {action!r}; use one of {known} or 'package.module:executor'"
        )
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise IntentforgeError(f"cannot load action {action!r}: {exc}") from None
    executor = found() if isinstance(found, type) else found
    for needed in ("plan", "run", "has_credentials", "needs_confirmation", "plan_type"):
        if not hasattr(executor, needed):
            raise IntentforgeError(f"action {action!r} is not an executor (it has no {needed!r})")
    return executor


class ActionRunner:
    """Executes intent calls; keep one per process (it holds an HTTP client and the state store)."""

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        *,
        catalogue: Catalogue | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.actions
        self.secrets = secrets
        self.catalogue = catalogue or Catalogue.from_settings(settings)
        self._store: ActionStore | None = None
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.config.timeout_s),
            transport=transport,
            headers={"User-Agent": "intentforge"},
            follow_redirects=False,
        )
        self._sleep = sleep

    @property
    def store(self) -> ActionStore:
        """Opened on first use, so a server starts even before its state folder is writable."""
        if self._store is None:
            self._store = ActionStore(self.config.state_dir)
        return self._store

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ActionRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _context(
        self, resolved: Mapping[str, Any], key: str | None, now: datetime | None, timezone: str
    ) -> ActionContext:
        tz = zone(timezone)
        when = datetime.now(tz) if now is None else now
        if when.tzinfo is None:
            when = when.replace(tzinfo=tz)
        return ActionContext(
            config=self.config,
            secrets=self.secrets,
            http=self._http,
            now=when.astimezone(tz),
            resolved=dict(resolved),
            request_id=request_id_for(key),
            sleep=self._sleep,
        )

    def act(
        self,
        call: IntentCall | Mapping[str, Any] | None = None,
        *,
        resolved: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        confirm: str | None = None,
        now: datetime | None = None,
        timezone: str | None = None,
        dry_run: bool = False,
    ) -> ActionResult:
        """Carry out `call`, or the plan awaiting confirmation `confirm`.

        A repeated `idempotency_key` with the same request returns the first result instead of
        acting again (with a different request it is an error). `resolved` holds the runtime's
        resolved values ({"due": {"text", "iso"}, ...}); executors cope without them. `dry_run`
        True forces a dry run whatever the settings say (it can never force a real run). A call
        missing a required slot is not run: it needs clarification, its reply the question.
        """
        tz = timezone or self.settings.runtime.timezone
        if confirm is not None:
            if call is not None:
                raise IntentforgeError(
                    "give either an intent call or a confirmation token, not both"
                )
            return self._confirm(confirm, now, tz, dry_run)
        if call is None:
            raise IntentforgeError("nothing to do: give an intent call or a confirmation token")
        if not isinstance(call, IntentCall):
            call = self.catalogue.validate(call)
        else:
            call = self.catalogue.validate(call.to_dict())
        resolved = dict(resolved or {})
        intent = self.catalogue[call.intent]
        missing = self.catalogue.missing(call)
        if missing:  # never act on a slot nobody said: ask for it
            asked = result(
                ActionStatus.NEEDS_CLARIFICATION,
                self.catalogue.question(call) or "",
                {"missing": list(missing)},
                "missing_slot",
            )
            return asked.model_copy(update={"intent": call.intent, "action": intent.action})
        if call.intent == OUT_OF_SCOPE or intent.action is None:
            reply = NONE_REPLY
            if call.intent != OUT_OF_SCOPE:
                what = intent.name.replace("_", " ")
                reply = f"I understood that ({what}), but no action is set up for it yet."
            done = result(ActionStatus.DONE, reply, error=None)
            return done.model_copy(update={"intent": call.intent, "action": None})
        executor = executor_for(intent.action)
        ctx = self._context(resolved, idempotency_key, now, tz)

        def attempt() -> ActionResult:
            planned = executor.plan(call, ctx)
            if isinstance(planned, ActionResult):
                return planned
            if executor.side_effects:
                unset = None if dry_run else self._unconfigured(executor, ctx)
                if unset is not None:
                    return unset
                if dry_run or is_dry_run(self.config, executor.has_credentials(ctx)):
                    return result(
                        ActionStatus.DRY_RUN,
                        f"Dry run: I would {planned.summary}.",
                        {"plan": planned.model_dump(mode="json", exclude={"summary", "question"})},
                    )
            if executor.side_effects and executor.needs_confirmation(ctx):
                token = self.store.add_confirmation(
                    call.intent,
                    planned.model_dump(mode="json"),
                    {"action": executor.name, "now": ctx.now.isoformat(), "timezone": tz},
                    self.config.confirmation_ttl_s,
                )
                pending = result(
                    ActionStatus.NEEDS_CONFIRMATION,
                    planned.question or f"Shall I {planned.summary}?",
                    {"plan": planned.model_dump(mode="json", exclude={"summary", "question"})},
                )
                return pending.model_copy(update={"confirmation_token": token})
            return executor.run(planned, ctx)

        request = fingerprint(call.to_dict(), resolved)
        return self._once(call.intent, executor, idempotency_key, request, attempt)

    def act_calls(
        self,
        calls: Sequence[tuple[IntentCall | Mapping[str, Any], Mapping[str, Any]]],
        *,
        idempotency_key: str | None = None,
        now: datetime | None = None,
        timezone: str | None = None,
        dry_run: bool = False,
    ) -> list[ActionResult]:
        """Carry out the calls of one request ((call, resolved) pairs, several requests in one
        sentence) in the order said, each with its own result: one that fails or misses a slot
        does not stop the others. A retried `idempotency_key` replays each call's result (the
        calls after the first are keyed `<key>#2`, `<key>#3`)."""
        results = []
        for number, (call, resolved) in enumerate(calls, start=1):
            key = idempotency_key
            if key is not None and number > 1:
                key = f"{key}#{number}"
            results.append(
                self.act(
                    call,
                    resolved=resolved,
                    idempotency_key=key,
                    now=now,
                    timezone=timezone,
                    dry_run=dry_run,
                )
            )
        return results

    def _confirm(
        self,
        token: str,
        now: datetime | None,
        tz: str,
        dry_run: bool,
    ) -> ActionResult:
        pending = self.store.get_confirmation(token)
        # The token is the idempotency key: whatever key a caller adds, a token acts once.
        key = f"confirm:{token}"
        if pending is None:
            return result(
                ActionStatus.FAILED,
                "That confirmation has expired or is unknown; please ask again.",
                {"confirmation_token": token},
                "confirmation_expired",
            )
        executor = executor_for(str(pending.context["action"]))
        plan: Plan = executor.plan_type.model_validate(pending.plan)
        ctx = self._context({}, key, now, str(pending.context.get("timezone", tz)))

        def attempt() -> ActionResult:
            unset = None if dry_run else self._unconfigured(executor, ctx)
            if unset is not None:
                return unset
            if dry_run or is_dry_run(self.config, executor.has_credentials(ctx)):
                return result(ActionStatus.DRY_RUN, f"Dry run: I would {plan.summary}.")
            done = executor.run(plan, ctx)
            if done.status == ActionStatus.DONE:
                self.store.mark_confirmation_used(token)
            return done

        return self._once(pending.intent, executor, key, fingerprint("confirm", token), attempt)

    def _unconfigured(self, executor: Executor, ctx: ActionContext) -> ActionResult | None:
        """dry_run: false without credentials is a setup mistake, said plainly (never a crash)."""
        if self.config.dry_run is False and not executor.has_credentials(ctx):
            return result(
                ActionStatus.FAILED,
                f"I can't do that yet: {executor.credentials_hint}.",
                error="not_configured",
            )
        return None

    def _once(
        self,
        intent: str,
        executor: Executor,
        key: str | None,
        request: str,
        attempt: Callable[[], ActionResult],
    ) -> ActionResult:
        """Run `attempt` at most once per idempotency key (for executors with side effects)."""
        tracked = key is not None and executor.side_effects
        if tracked:
            assert key is not None
            claim = self.store.claim(key, request)
            if claim.kind == "replay":
                assert claim.result is not None
                log.info("idempotency key replayed for %s", intent)
                return claim.result.model_copy(update={"replayed": True})
        try:
            outcome = attempt()
        except BaseException:
            if tracked:
                assert key is not None
                self.store.release(key)
            raise
        outcome = outcome.model_copy(
            update={"intent": intent, "action": executor.name, "idempotency_key": key}
        )
        if tracked:
            assert key is not None
            # Only outcomes that must not be repeated are kept; a failure or a dry run may be
            # retried with the same key once the service is back or credentials are set.
            if outcome.status in (ActionStatus.DONE, ActionStatus.NEEDS_CONFIRMATION):
                self.store.finish(key, outcome)
            else:
                self.store.release(key)
        log.info("%s via %s: %s", intent, executor.name, outcome.status.value)
        return outcome


def act(
    call: IntentCall | Mapping[str, Any] | None,
    settings: Settings,
    secrets: Secrets,
    *,
    resolved: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    confirm: str | None = None,
    now: datetime | None = None,
    timezone: str | None = None,
    dry_run: bool = False,
    catalogue: Catalogue | None = None,
) -> ActionResult:
    """One-off convenience over ActionRunner (a long-running process should keep a runner)."""
    with ActionRunner(settings, secrets, catalogue=catalogue) as runner:
        return runner.act(
            call,
            resolved=resolved,
            idempotency_key=idempotency_key,
            confirm=confirm,
            now=now,
            timezone=timezone,
            dry_run=dry_run,
        )
