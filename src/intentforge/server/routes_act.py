"""`POST /v1/act`: text (or an intent call, or a confirmation) -> intent -> action result."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field, model_validator

from intentforge.actions import ActionResult
from intentforge.catalogue import IntentCall
from intentforge.server.deps import (
    ActionsDep,
    MaybePoolDep,
    MetricsDep,
    SettingsDep,
    check_text_length,
    require_model,
)
from intentforge.server.errors import CONVERSATION_ERRORS
from intentforge.server.limits import require_json
from intentforge.server.schemas import (
    conversation_id_in,
    conversation_id_out,
    missing_out,
    question_out,
)
from intentforge.server.security import require_api_key_to_act

router = APIRouter(tags=["actions"])


class ActRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(
        default=None,
        description="The request, as typed or transcribed.",
        examples=["remind me to call mum tomorrow at 6"],
    )
    intent: dict[str, Any] | None = Field(
        default=None,
        description="An intent call to run as is (skips the model): {intent, parameters}.",
        examples=[{"intent": "get_weather", "parameters": {"location": "London"}}],
    )
    confirm: str | None = Field(
        default=None, description="The confirmation_token of an earlier answer: go ahead."
    )
    timezone: str | None = Field(
        default=None, description="IANA time zone of the speaker (default: runtime.timezone)."
    )
    dry_run: bool = Field(
        default=False, description="Only say what would happen (true can never force a real run)."
    )
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description="Retries with the same key return the first result instead of acting again "
        "(the Idempotency-Key header works too).",
    )
    conversation_id: str | None = conversation_id_in()

    @model_validator(mode="after")
    def _one_input(self) -> ActRequest:
        given = [self.text is not None, self.intent is not None, self.confirm is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of text, intent or confirm")
        if self.conversation_id is not None and self.text is None:
            raise ValueError("conversation_id goes with text: the answer to its question")
        return self


class ActResponse(BaseModel):
    intent: str | None = Field(description="The intent acted on (from text, intent or the plan).")
    parameters: dict[str, Any] = Field(description="Its slots, as spoken.")
    resolved: dict[str, Any] = Field(description="Date slots resolved by the runtime.")
    missing: list[str] = missing_out()
    question: str | None = question_out()
    conversation_id: str | None = conversation_id_out()
    result: ActionResult
    timings_ms: dict[str, float] = Field(description="parse (when text was given) and action.")


@router.post(
    "/v1/act",
    summary="Text to intent to action",
    response_model=ActResponse,
    responses=CONVERSATION_ERRORS,
    dependencies=[Depends(require_api_key_to_act), Depends(require_json)],
)
async def act(
    body: ActRequest,
    runner: ActionsDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    pool: MaybePoolDep,
    idempotency_key: str | None = Header(
        default=None, max_length=200, description="Same as the body's idempotency_key."
    ),
) -> dict[str, Any]:
    """Carry out a request. The answer is 200 whatever the action's outcome: read
    `result.status` (done, dry_run, needs_confirmation, needs_clarification, failed) and speak
    `result.reply`. A `needs_confirmation` answer carries `result.confirmation_token`: send it
    back as `{"confirm": token}` to go ahead.

    A call missing a required slot is not acted on: `result.status` is needs_clarification,
    `result.reply` the question; send the answer as `text` with the returned `conversation_id`.
    """
    timings: dict[str, float] = {}
    call: IntentCall | None = None
    resolved: dict[str, Any] = {}
    conversation_id: str | None = None
    if body.intent is not None:
        call = runner.catalogue.validate(body.intent)
    if body.text is not None:
        check_text_length(body.text, settings)
        parsed = await require_model(pool).parse(
            body.text, timezone=body.timezone, conversation_id=body.conversation_id
        )
        call, resolved = parsed.call, parsed.resolved
        conversation_id = parsed.conversation_id
        timings["parse"] = parsed.timings_ms["total"]
    start = time.perf_counter()
    result = await asyncio.to_thread(
        runner.act,
        call,
        resolved=resolved,
        confirm=body.confirm,
        idempotency_key=body.idempotency_key or idempotency_key,
        timezone=body.timezone,
        dry_run=body.dry_run,
    )
    seconds = time.perf_counter() - start
    metrics.observe_stage("action", seconds)
    timings["action"] = round(seconds * 1000, 2)
    return {
        "intent": result.intent or None,
        "parameters": call.parameters if call is not None else {},
        "resolved": resolved,
        "missing": list(runner.catalogue.missing(call)) if call is not None else [],
        "question": runner.catalogue.question(call) if call is not None else None,
        "conversation_id": conversation_id,
        "result": result.model_dump(mode="json"),
        "timings_ms": timings,
    }
