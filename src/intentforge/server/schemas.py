"""Request and response bodies of the API (they are also its OpenAPI documentation)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class ResolvedValue(BaseModel):
    text: str = Field(description="The span as spoken.")
    iso: str | None = Field(description="ISO 8601 date or date-time with offset; null if unknown.")


class ParseResponse(BaseModel):
    intent: str = Field(description="Intent name from the catalogue ('none': out of scope).")
    parameters: dict[str, Any] = Field(
        description="Slots that were said; absent slots are omitted."
    )
    resolved: dict[str, ResolvedValue] = Field(
        description="Date slots resolved in the caller's time zone: {slot: {text, iso}}."
    )
    timezone: str
    raw: str = Field(description="The model's output text.")
    tokens: dict[str, int] = Field(
        description="{prompt, generated} token counts, and the sequential model steps taken."
    )
    timings_ms: dict[str, float] = Field(description="Per-stage latency in milliseconds.")


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
