"""OpenAI-compatible chat completions: catalogue intents are tools, a parsed intent a tool call."""

from __future__ import annotations

import json
import secrets as random_ids
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue
from intentforge.errors import IntentforgeError
from intentforge.runtime.conversation import replay
from intentforge.server.deps import (
    CatalogueDep,
    ModelNameDep,
    PoolDep,
    SettingsDep,
    check_text_length,
)
from intentforge.server.limits import require_json
from intentforge.server.schemas import ChatMessage, ChatRequest
from intentforge.server.security import require_api_key

CANNOT_HELP = "I can't help with that."
# Questions answered in a row, at most: one per required slot of the largest intent is plenty.
_MAX_QUESTIONS = 4

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


def _questions(catalogue: Catalogue) -> set[str]:
    """Every question the catalogue asks: an assistant message saying one was ours."""
    return {i.question(s) for i in catalogue.intents for s in i.required_slots}


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    if isinstance(message.content, list):
        parts = [p.get("text") for p in message.content if p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _turns(messages: list[ChatMessage], questions: set[str]) -> list[tuple[str | None, str]]:
    """The exchange the last user message ends, for `runtime.conversation.replay`:
    `[(None, request), (question, answer), ...]`, going back while each user message answered
    one of the catalogue's `questions` (the client keeps the history: no conversation_id)."""
    users = [i for i, m in enumerate(messages) if m.role == "user" and m.content is not None]
    if not users:
        raise IntentforgeError("messages hold no user message with text to parse", status_code=400)
    at = users[-1]
    turns: list[tuple[str | None, str]] = [(None, _text(messages[at]))]
    while at >= 2 and len(turns) <= _MAX_QUESTIONS:
        asked, before = messages[at - 1], messages[at - 2]
        question = asked.content if isinstance(asked.content, str) else None
        if asked.role != "assistant" or question not in questions or before.role != "user":
            break
        turns[0] = (question, turns[0][1])
        turns.insert(0, (None, _text(before)))
        at -= 2
    return turns


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat completion with tool calls",
    dependencies=[Depends(require_json)],
)
async def chat_completions(
    body: ChatRequest,
    pool: PoolDep,
    settings: SettingsDep,
    model_name: ModelNameDep,
    catalogue: CatalogueDep,
) -> dict[str, Any]:
    """Parse the last user message; answer with a `tool_calls` entry named after the intent, or
    with "I can't help with that." for out-of-scope requests and intents outside `tools`.
    Several requests in one message are several tool calls in one assistant message, in the
    order said; an out-of-scope part is left out.

    A required slot the request did not say is not invented: the answer is the question
    ("Who should I send it to?") as the assistant's words, and the next user message, sent with
    that history, answers it and completes the call; then every call is answered at once."""
    if body.stream:
        raise IntentforgeError("stream=true is not supported: send stream=false", status_code=400)
    turns = _turns(body.messages, _questions(catalogue))
    for _, text in turns:
        check_text_length(text, settings)
    result = await pool.run_parse(lambda parser, cancel: replay(parser, turns, cancel=cancel))
    offered = None if body.tools is None else {t.function.name for t in body.tools}
    answerable = [
        c.call
        for c in result.calls
        if c.call.intent != OUT_OF_SCOPE
        and (offered is None or c.call.intent in offered)
        and body.tool_choice != "none"
    ]
    asking = next((catalogue.question(c) for c in answerable if catalogue.missing(c)), None)
    message: dict[str, Any] = {"role": "assistant", "content": CANNOT_HELP}
    finish = "stop"
    if asking is not None:
        message = {"role": "assistant", "content": asking}
    elif answerable:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_" + random_ids.token_hex(12),
                    "type": "function",
                    "function": {
                        "name": call.intent,
                        "arguments": json.dumps(
                            call.parameters, ensure_ascii=False, separators=(",", ":")
                        ),
                    },
                }
                for call in answerable
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
