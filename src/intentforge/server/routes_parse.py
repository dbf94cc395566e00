"""`POST /v1/parse` (text to intent) and `GET /v1/intents` (the catalogue as schema and tools)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from intentforge.server.deps import CatalogueDep, PoolDep, SettingsDep, check_text_length
from intentforge.server.errors import CONVERSATION_ERRORS
from intentforge.server.limits import require_json
from intentforge.server.openai_compat import catalogue_tools
from intentforge.server.schemas import IntentsResponse, ParseRequest, ParseResponse
from intentforge.server.security import require_api_key

router = APIRouter(tags=["intents"], dependencies=[Depends(require_api_key)])


@router.get(
    "/v1/intents",
    summary="The catalogue: JSON Schema of an intent call, and the intents as tools",
    response_model=IntentsResponse,
)
async def intents(catalogue: CatalogueDep) -> dict[str, Any]:
    return {"schema": catalogue.json_schema(), "tools": catalogue_tools(catalogue)}


@router.post(
    "/v1/parse",
    summary="Text to intent",
    response_model=ParseResponse,
    responses=CONVERSATION_ERRORS,
    dependencies=[Depends(require_json)],
)
async def parse(body: ParseRequest, pool: PoolDep, settings: SettingsDep) -> dict[str, Any]:
    """Parse `text` into an intent call; date slots are resolved in `timezone`.

    A required slot the request did not say is not invented: `missing` names it, `question`
    asks for it, and the next request with the answer as `text` and the returned
    `conversation_id` completes the call. 422 when the model cannot produce a valid intent; 410
    for an expired conversation; 503 with Retry-After when busy or loading.
    """
    check_text_length(body.text, settings)
    result = await pool.parse(
        body.text, timezone=body.timezone, conversation_id=body.conversation_id
    )
    return result.to_dict()
