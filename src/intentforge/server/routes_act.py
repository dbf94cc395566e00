"""`POST /v1/act`: text (or an intent call, or a confirmation) -> intent -> action result."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field, model_validator

from intentforge.actions import ActionResult, joined_reply
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
    calls_out,
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


class ActedCall(BaseModel):
    intent: str = Field(description="The intent of this call.")
    parameters: dict[str, Any] = Field(description="Its slots, as spoken.")
    resolved: dict[str, Any] = Field(description="Date slots resolved by the runtime.")
    missing: list[str] = missing_out()
    question: str | None = question_out()
    result: ActionResult


class ActResponse(BaseModel):
    intent: str | None = Field(description="The intent acted on (from text, intent or the plan).")
    parameters: dict[str, Any] = Field(description="Its slots, as spoken.")
    resolved: dict[str, Any] = Field(description="Date slots resolved by the runtime.")
    missing: list[str] = missing_out()
    question: str | None = question_out()
    conversation_id: str | None = conversation_id_out()
    result: ActionResult = Field(description="The first call's result.")
    calls: list[ActedCall] = calls_out()
    reply: str = Field(description="What to say back: every call's reply, in order.")
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

    Several requests in one text ("add milk and what's the weather") are acted on in the order
    said, each with its own result in `calls`; the first stays at the top level, and `reply`
    joins what each says. Only a call that misses a slot waits for the answer.
    """
    timings: dict[str, float] = {}
    calls: list[tuple[IntentCall, dict[str, Any]]] = []
    conversation_id: str | None = None
    missing: list[str] = []
    question: str | None = None
    if body.intent is not None:
        call = runner.catalogue.validate(body.intent)
        calls = [(call, {})]
        missing = list(runner.catalogue.missing(call))
        question = runner.catalogue.question(call)
    if body.text is not None:
        check_text_length(body.text, settings)
        parsed = await require_model(pool).parse(
            body.text, timezone=body.timezone, conversation_id=body.conversation_id
        )
        calls = [(c.call, c.resolved) for c in parsed.calls]
        conversation_id = parsed.conversation_id
        waiting = parsed.waiting
        missing = list(waiting.missing) if waiting else []
        question = waiting.question if waiting else None
        timings["parse"] = parsed.timings_ms["total"]
    key = body.idempotency_key or idempotency_key
    start = time.perf_counter()
    if body.confirm is not None:
        results = [
            await asyncio.to_thread(
                runner.act,
                None,
                confirm=body.confirm,
                idempotency_key=key,
                timezone=body.timezone,
                dry_run=body.dry_run,
            )
        ]
    else:
        results = await asyncio.to_thread(
            runner.act_calls,
            calls,
            idempotency_key=key,
            timezone=body.timezone,
            dry_run=body.dry_run,
        )
    seconds = time.perf_counter() - start
    metrics.observe_stage("action", seconds)
    timings["action"] = round(seconds * 1000, 2)
    acted = [
        {
            "intent": call.intent,
            "parameters": call.parameters,
            "resolved": resolved,
            "missing": list(runner.catalogue.missing(call)),
            "question": runner.catalogue.question(call),
            "result": result.model_dump(mode="json"),
        }
        for (call, resolved), result in zip(calls, results, strict=False)
    ]
    first = results[0]
    return {
        "intent": first.intent or None,
        "parameters": calls[0][0].parameters if calls else {},
        "resolved": calls[0][1] if calls else {},
        "missing": missing,
        "question": question,
        "conversation_id": conversation_id,
        "result": first.model_dump(mode="json"),
        "calls": acted,
        "reply": joined_reply([r.reply for r in results]),
        "timings_ms": timings,
    }
