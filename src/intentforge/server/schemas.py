"""Request and response bodies of the API (they are also its OpenAPI documentation)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Fields /v1/parse, /v1/act and /v1/voice share: a call missing a slot asks, and the next
# request answers. Functions, so each model gets its own Field.
def conversation_id_in() -> Any:
    return Field(
        None,
        max_length=100,
        description="The conversation_id of an earlier answer that asked a question: the text "
        "is the answer ('to anna') and completes that call. Unknown or expired "
        "(runtime.conversation_ttl_s): 410, say the whole request again.",
    )


def missing_out() -> Any:
    return Field(
        default_factory=list,
        description="Required slots the request did not say: nothing acts until they are answered.",
    )


def question_out() -> Any:
    return Field(
        None,
        description="What to ask for the first missing slot ('Who should I send it to?'); at "
        "the top level, of the first call that misses one.",
    )


def conversation_id_out() -> Any:
    return Field(
        None,
        description="Send it back as the next request's conversation_id, with the answer to "
        "`question` as its text; null when nothing is missing.",
    )


class ParseRequest(_Strict):
    text: str = Field(
        description="The request, as typed or transcribed.",
        examples=["remind me to buy milk tomorrow at 5pm"],
    )
    timezone: str | None = Field(
        None,
        description="IANA time zone of the speaker, for dates (default: runtime.timezone).",
        examples=["Europe/Paris"],
    )
    conversation_id: str | None = conversation_id_in()


class ResolvedValue(BaseModel):
    text: str = Field(description="The span as spoken.")
    iso: str | None = Field(description="ISO 8601 date or date-time with offset; null if unknown.")


class CallOut(BaseModel):
    intent: str = Field(description="Intent name from the catalogue ('none': out of scope).")
    parameters: dict[str, Any] = Field(description="Slots that were said.")
    resolved: dict[str, ResolvedValue] = Field(
        description="Date slots resolved: {slot: {text, iso}}."
    )
    missing: list[str] = missing_out()
    question: str | None = question_out()


def calls_out() -> Any:
    return Field(
        default_factory=list,
        description="Every call, in the order said (one or more: 'add milk and what's the "
        "weather' is two); the first is also at the top level.",
    )


class ParseResponse(BaseModel):
    intent: str = Field(description="Intent name from the catalogue ('none': out of scope).")
    parameters: dict[str, Any] = Field(
        description="Slots that were said; absent slots are omitted."
    )
    resolved: dict[str, ResolvedValue] = Field(
        description="Date slots resolved in the caller's time zone: {slot: {text, iso}}."
    )
    timezone: str
    missing: list[str] = missing_out()
    question: str | None = question_out()
    conversation_id: str | None = conversation_id_out()
    raw: str = Field(description="The model's output text.")
    tokens: dict[str, int] = Field(
        description="{prompt, generated} token counts, and the sequential model steps taken."
    )
    timings_ms: dict[str, float] = Field(description="Per-stage latency in milliseconds.")
    calls: list[CallOut] = calls_out()


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class IntentsResponse(BaseModel):
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of an intent call.")
    tools: list[dict[str, Any]] = Field(description="The intents as OpenAI function tools.")

    model_config = ConfigDict(populate_by_name=True)


# OpenAI chat completions: the fields assistant software sends. Unknown fields are ignored, as
# OpenAI-compatible servers do, so clients that add new options keep working.
class _OpenAI(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ChatFunction(_OpenAI):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ChatTool(_OpenAI):
    type: Literal["function"] = "function"
    function: ChatFunction


class ChatMessage(_OpenAI):
    role: str = Field(description="system, user, assistant or tool.")
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(_OpenAI):
    model: str | None = Field(None, description="Ignored: the server serves one model.")
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = Field(
        None, description="Tools the client offers; intents outside them are answered in words."
    )
    tool_choice: Any = None
    stream: bool = Field(False, description="Streaming is not supported.")
