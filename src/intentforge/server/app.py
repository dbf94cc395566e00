"""The FastAPI app: one router per resource, and the shared objects they depend on.

`create_app` puts the settings, secrets, catalogue, metrics, worker pool, action runner and speech
models in `app.state` once; routes receive them through the typed dependencies of `deps.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from intentforge.actions import ActionRunner
from intentforge.catalogue import Catalogue
from intentforge.config import Settings
from intentforge.runtime import Conversations, Parser, default_model_path
from intentforge.secrets import Secrets
from intentforge.server import (
    openai_compat,
    routes_act,
    routes_ops,
    routes_parse,
    routes_voice,
    routes_web,
)
from intentforge.server.deps import SpeechModels
from intentforge.server.errors import DOCUMENTED, add_error_handlers
from intentforge.server.limits import BodyLimit
from intentforge.server.metrics import Metrics
from intentforge.server.pool import ParserPool
from intentforge.voice.hints import hotwords_for

# One router per resource, in the order the OpenAPI page lists them.
ROUTERS = (
    routes_web.router,
    routes_ops.router,
    routes_parse.router,
    openai_compat.router,
    routes_act.router,
    routes_voice.router,
)


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
    from runtime.model_path, and routes that parse answer 503 until they are loaded."""
    if catalogue is None:
        catalogue = parsers[0].catalogue if parsers else Catalogue.from_settings(settings)
    metrics = Metrics()
    actions = ActionRunner(settings, secrets, catalogue=catalogue)
    # One store for every worker: a follow-up may land on any of them.
    conversations = Conversations.for_runtime(settings.runtime)
    owned: list[Parser] = []

    def make_pool(loaded: Sequence[Parser]) -> ParserPool:
        return ParserPool(
            loaded,
            queue_size=settings.server.queue_size,
            timeout_s=settings.server.request_timeout_s,
            metrics=metrics,
            conversations=conversations,
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
            actions.close()

    app = FastAPI(
        title="intentforge",
        summary="Turns spoken requests into validated JSON intents.",
        version="0.1.0",
        lifespan=lifespan,
        responses=DOCUMENTED,
    )
    app.state.settings = settings
    app.state.secrets = secrets
    app.state.catalogue = catalogue
    app.state.metrics = metrics
    app.state.actions = actions
    app.state.speech = SpeechModels(settings.voice, hotwords_for(settings, catalogue))
    app.state.started_at = time.time()
    app.state.pool = make_pool(parsers) if parsers else None
    app.state.model_name = parsers[0].model_path.name if parsers else "intentforge"

    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", routes_web.static_files(), name="static")

    app.add_middleware(
        BodyLimit,
        default_bytes=settings.server.max_body_bytes,
        limits={"/v1/voice": settings.voice.max_upload_bytes},
    )
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    _count_requests(app, metrics)
    return app


def _count_requests(app: FastAPI, metrics: Metrics) -> None:
    """Count and time every request by route; unknown paths share one label, so a scan of
    random URLs cannot grow the metrics without bound."""
    known_paths = {getattr(r, "path", "") for router in ROUTERS for r in router.routes}

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
