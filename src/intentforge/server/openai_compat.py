"""OpenAI-compatible chat completions: catalogue intents are tools, a parsed intent a tool call."""

from __future__ import annotations

import json
import secrets as random_ids
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue
from intentforge.errors import IntentforgeError
from intentforge.server.deps import ModelNameDep, PoolDep, SettingsDep, check_text_length
from intentforge.server.limits import require_json
from intentforge.server.schemas import ChatMessage, ChatRequest
from intentforge.server.security import require_api_key

CANNOT_HELP = "I can't help with that."

router = APIRouter(tags=["openai"], dependencies=[Depends(require_api_key)])


def catalogue_tools(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every intent but `none` as an OpenAI function tool."""
    tools = []
    for intent in catalogue.intents:
        if intent.name == OUT_OF_SCOPE:
            continue
        params = intent.parameters.model_json_schema()
        params.pop("title", None)
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": intent.name,
                    "description": intent.description,
                    "parameters": params,
                },
            }
        )
    return tools


def _last_user_text(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        if isinstance(message.content, list):
            parts = [p.get("text") for p in message.content if p.get("type") == "text"]
            return " ".join(p for p in parts if isinstance(p, str))
    raise IntentforgeError("messages hold no user message with text to parse", status_code=400)


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat completion with tool calls",
    dependencies=[Depends(require_json)],
)
async def chat_completions(
    body: ChatRequest, pool: PoolDep, settings: SettingsDep, model_name: ModelNameDep
) -> dict[str, Any]:
    """Parse the last user message; answer with a `tool_calls` entry named after the intent, or
    with "I can't help with that." for out-of-scope requests and intents outside `tools`."""
    if body.stream:
        raise IntentforgeError("stream=true is not supported: send stream=false", status_code=400)
    text = _last_user_text(body.messages)
    check_text_length(text, settings)
    result = await pool.parse(text)
    offered = None if body.tools is None else {t.function.name for t in body.tools}
    call = result.call
    message: dict[str, Any] = {"role": "assistant", "content": CANNOT_HELP}
    finish = "stop"
    if (
        call.intent != OUT_OF_SCOPE
        and (offered is None or call.intent in offered)
        and (body.tool_choice != "none")
    ):
        arguments = json.dumps(call.parameters, ensure_ascii=False, separators=(",", ":"))
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_" + random_ids.token_hex(12),
                    "type": "function",
                    "function": {"name": call.intent, "arguments": arguments},
                }
            ],
        }
        finish = "tool_calls"
    return {
        "id": "chatcmpl-" + random_ids.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.tokens,
            "total_tokens": result.prompt_tokens + result.tokens,
        },
    }


@router.get("/v1/models", summary="The served model, as OpenAI clients list it")
async def models(request: Request, model_name: ModelNameDep) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": model_name,
                "object": "model",
                "created": int(request.app.state.started_at),
                "owned_by": "intentforge",
            }
        ],
    }
