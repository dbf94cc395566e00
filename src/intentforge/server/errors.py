"""Every error the API answers has one JSON shape: {"error": {"type", "message"}}.

Expected failures (IntentforgeError) keep their status and message; a Retry-After header goes
with RetryLater (a full queue, a model still loading). Anything else is a bug: logged with its
traceback, answered as a plain 500.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from intentforge.errors import IntentforgeError
from intentforge.server.pool import RetryLater
from intentforge.server.schemas import ErrorResponse

log = logging.getLogger("intentforge.server")

STATUS_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
    504: "timeout",
}
# The error statuses the OpenAPI document lists for every route.
DOCUMENTED: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 415, 422, 503, 504)
}
# Routes that take a conversation_id also answer 410 when it has expired.
CONVERSATION_ERRORS: dict[int | str, dict[str, Any]] = {410: {"model": ErrorResponse}}


def error_body(kind: str, message: str) -> bytes:
    """The JSON error shape every endpoint answers with."""
    return json.dumps({"error": {"type": kind, "message": message}}).encode()


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": kind, "message": message}}, status_code=status, headers=headers
    )


def _error_type(exc: IntentforgeError) -> str:
    if type(exc) is IntentforgeError:
        return STATUS_TYPES.get(exc.status_code, "error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower().removesuffix("_error")


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, in the one JSON shape."""

    @app.exception_handler(IntentforgeError)
    async def intentforge_error(request: Request, exc: IntentforgeError) -> JSONResponse:
        headers = None
        if isinstance(exc, RetryLater):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return error_response(exc.status_code, _error_type(exc), str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {"msg": "invalid request"}
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error", "not valid JSON")
            return error_response(400, "invalid_json", f"malformed JSON body: {reason}")
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg')}".lstrip(": "))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = STATUS_TYPES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            kind, message = "invalid_json", "malformed request body: not valid UTF-8 JSON"
        return error_response(exc.status_code, kind, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error; see the server log")
