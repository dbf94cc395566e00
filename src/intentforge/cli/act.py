"""`intentforge act "text"`: parse a request with the local model and carry it out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from intentforge.cli.common import ConfigOption, console, settings_from
from intentforge.errors import IntentforgeError


def act(
    text: list[str] | None = typer.Argument(
        None, help="The request, e.g. 'remind me to call mum tomorrow at 6'."
    ),
    config: ConfigOption = None,
    intent_json: str | None = typer.Option(
        None,
        "--json",
        help='An intent call to run without the model: \'{"intent": "add_task", '
        '"parameters": {"content": "buy milk", "due": "tomorrow"}}\'.',
    ),
    confirm: str | None = typer.Option(
        None, "--confirm", help="Go ahead with the action a previous call asked to confirm."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Confirm at once instead of asking (e.g. before an e-mail)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only say what would happen, whatever the settings say."
    ),
    idempotency_key: str | None = typer.Option(
        None,
        "--idempotency-key",
        help="Run this request at most once: a retry with the same key prints the first result.",
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="GGUF model file (default: runtime.model_path, else newest)."
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", "--tz", help="IANA time zone for dates (default: runtime.timezone)."
    ),
    as_json: bool = typer.Option(
        False, "--output-json", help="Print the intent and the full result as JSON."
    ),
) -> None:
    """Carry out a request: add a Todoist task, tell the weather, send an e-mail."""
    from intentforge.actions import ActionRunner, ActionStatus
    from intentforge.secrets import load_secrets

    given = [bool(text), intent_json is not None, confirm is not None]
    if sum(given) != 1:
        raise IntentforgeError("give exactly one of: the request text, --json '{...}' or --confirm")
    settings = settings_from(config, {"runtime": {"model_path": model, "timezone": timezone}})
    secrets = load_secrets(settings)
    # (call, resolved) of each request said, in order; [(None, {})] with --confirm.
    calls: list[tuple[Any, dict[str, Any]]] = [(None, {})]
    if text:
        from intentforge.catalogue import Catalogue
        from intentforge.runtime import Parser, default_model_path

        path = default_model_path(settings)
        with console.status(f"loading {path}"):
            parser = Parser(path, Catalogue.from_settings(settings), settings.runtime)
        try:
            result = parser.parse(" ".join(text))
        finally:
            parser.close()
        calls = [(c.call, c.resolved) for c in result.calls]
    elif intent_json is not None:
        try:
            calls = [(json.loads(intent_json), {})]
        except json.JSONDecodeError as exc:
            raise IntentforgeError(f"--json is not valid JSON: {exc}") from None

    done: list[dict[str, Any]] = []
    outcomes = []
    with ActionRunner(settings, secrets) as runner:
        for number, (call, resolved) in enumerate(calls, start=1):
            key = (
                idempotency_key
                if number == 1 or idempotency_key is None
                else (f"{idempotency_key}#{number}")
            )
            outcome = runner.act(
                call, resolved=resolved, confirm=confirm, idempotency_key=key, dry_run=dry_run
            )
            if outcome.status == ActionStatus.NEEDS_CONFIRMATION and outcome.confirmation_token:
                token = outcome.confirmation_token
                agreed = yes or (
                    not as_json
                    and sys.stdin.isatty()
                    and typer.confirm(outcome.reply, default=False)
                )
                if agreed:
                    outcome = runner.act(confirm=token, dry_run=dry_run)
                elif not as_json:
                    console.print(f"Not done yet. To go ahead: intentforge act --confirm {token}")
            said = call.to_dict() if hasattr(call, "to_dict") else call
            parsed = said if isinstance(said, dict) else {}
            if text:
                parsed = {**parsed, "resolved": resolved}
            done.append({**parsed, "result": outcome.model_dump(mode="json")})
            outcomes.append(outcome)

    if as_json:
        print(json.dumps({**done[0], "calls": done}, ensure_ascii=False))
    else:
        for outcome in outcomes:
            print(outcome.reply)
    if any(o.status == ActionStatus.FAILED for o in outcomes):
        # SystemExit, not typer.Exit: main() runs click with standalone_mode=False, where an
        # Exit becomes a return value and the exit status would be lost.
        raise SystemExit(1)
