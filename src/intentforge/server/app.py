"""The FastAPI app: parse, intents, OpenAI-compatible chat, health, metrics and a small web page.

Routers of later stages plug in without editing this file: a module `intentforge.server.routes_act`
or `intentforge.server.routes_voice` that exists is imported, its `router` included, and its
optional `configure(app)` called. They reach the workers through `app.state.pool` (a ParserPool:
`await pool.parse(text, timezone=...)`), and guard side effects with `require_api_key_to_act`.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from intentforge.catalogue import Catalogue
from intentforge.config import Secrets, Settings
from intentforge.errors import IntentforgeError
from intentforge.runtime import Parser, default_model_path
from intentforge.server import openai_compat
from intentforge.server.limits import BodyLimit, require_json
from intentforge.server.metrics import Metrics
from intentforge.server.pool import ParserPool, ServerBusy
from intentforge.server.schemas import ErrorResponse, IntentsResponse, ParseRequest, ParseResponse
from intentforge.server.security import require_api_key

log = logging.getLogger("intentforge.server")

STATIC_DIR = Path(__file__).parent / "static"
PLUGIN_ROUTERS = ("intentforge.server.routes_act", "intentforge.server.routes_voice")

_STATUS_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
    504: "timeout",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 415, 422, 503, 504)
}


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": kind, "message": message}}, status_code=status, headers=headers
    )


def _error_type(exc: IntentforgeError) -> str:
    if type(exc) is IntentforgeError:
        return _STATUS_TYPES.get(exc.status_code, "error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower().removesuffix("_error")


def load_parsers(settings: Settings, catalogue: Catalogue) -> list[Parser]:
    """One Parser per server worker (server.workers model instances)."""
    path = default_model_path(settings)
    return [Parser(path, catalogue, settings.runtime) for _ in range(settings.server.workers)]


def create_app(
    settings: Settings,
    secrets: Secrets,
    *,
    parsers: Sequence[Parser] | None = None,
    catalogue: Catalogue | None = None,
) -> FastAPI:
    """The API. `parsers`: already-loaded models (one per worker); None loads them at start-up
    from runtime.model_path, and /readyz answers 503 until they are loaded."""
    if catalogue is None:
        catalogue = parsers[0].catalogue if parsers else Catalogue.from_settings(settings)
    metrics = Metrics()
    owned: list[Parser] = []

    def make_pool(loaded: Sequence[Parser]) -> ParserPool:
        return ParserPool(
            loaded,
            queue_size=settings.server.queue_size,
            timeout_s=settings.server.request_timeout_s,
            metrics=metrics,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.pool is None:
            owned.extend(await asyncio.to_thread(load_parsers, settings, catalogue))
            app.state.pool = make_pool(owned)
            app.state.model_name = owned[0].model_path.name
        try:
            yield
        finally:
            app.state.pool.close()
            for parser in owned:
                parser.close()

    app = FastAPI(
        title="intentforge",
        summary="Turns spoken requests into validated JSON intents.",
        version="0.1.0",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.settings = settings
    app.state.secrets = secrets
    app.state.catalogue = catalogue
    app.state.metrics = metrics
    app.state.started_at = time.time()
    app.state.pool = make_pool(parsers) if parsers else None
    app.state.model_name = parsers[0].model_path.name if parsers else "intentforge"
    app.state.body_limits = {}

    _add_error_handlers(app)
    _add_routes(app)
    app.include_router(openai_compat.router)
    for module_name in PLUGIN_ROUTERS:
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        app.include_router(module.router)
        configure = getattr(module, "configure", None)
        if configure is not None:
            configure(app)

    app.add_middleware(
        BodyLimit, default_bytes=settings.server.max_body_bytes, limits=app.state.body_limits
    )
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    known_paths = {getattr(r, "path", "") for r in app.routes}

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", None) or (
            request.url.path if request.url.path in known_paths else "other"
        )
        metrics.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        metrics.request_seconds.labels(endpoint=endpoint).observe(time.perf_counter() - start)
        return response

    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IntentforgeError)
    async def intentforge_error(request: Request, exc: IntentforgeError) -> JSONResponse:
        headers = None
        if isinstance(exc, ServerBusy):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return _error(exc.status_code, _error_type(exc), str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {"msg": "invalid request"}
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error", "not valid JSON")
            return _error(400, "invalid_json", f"malformed JSON body: {reason}")
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg')}".lstrip(": "))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _STATUS_TYPES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            kind, message = "invalid_json", "malformed request body: not valid UTF-8 JSON"
        return _error(exc.status_code, kind, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "internal server error; see the server log")


def _add_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", tags=["ops"], summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Model loaded and ready to parse")
    async def readyz(request: Request) -> JSONResponse:
        pool: ParserPool | None = request.app.state.pool
        if pool is None:
            return _error(503, "unavailable", "model still loading")
        return JSONResponse(
            {
                "status": "ready",
                "model": request.app.state.model_name,
                "workers": pool.workers,
                "queue_size": pool.queue_size,
            }
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        return Response(
            generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    @app.get(
        "/v1/intents",
        tags=["intents"],
        summary="The catalogue: JSON Schema of an intent call, and the intents as tools",
        response_model=IntentsResponse,
        dependencies=[Depends(require_api_key)],
    )
    async def intents(request: Request) -> dict[str, Any]:
        catalogue: Catalogue = request.app.state.catalogue
        return {
            "schema": catalogue.json_schema(),
            "tools": openai_compat.catalogue_tools(catalogue),
        }

    @app.post(
        "/v1/parse",
        tags=["intents"],
        summary="Text to intent",
        response_model=ParseResponse,
        dependencies=[Depends(require_api_key), Depends(require_json)],
    )
    async def parse(body: ParseRequest, request: Request) -> dict[str, Any]:
        """Parse `text` into an intent call; date slots are resolved in `timezone`.

        422 when the model cannot produce a valid intent; 503 with Retry-After when busy.
        """
        settings: Settings = request.app.state.settings
        if len(body.text) > settings.server.max_text_chars:
            raise IntentforgeError(
                f"text over {settings.server.max_text_chars} characters (server.max_text_chars)",
                status_code=413,
            )
        pool: ParserPool | None = request.app.state.pool
        if pool is None:
            raise IntentforgeError("model still loading; retry shortly", status_code=503)
        result = await pool.parse(body.text, timezone=body.timezone)
        return result.to_dict()
