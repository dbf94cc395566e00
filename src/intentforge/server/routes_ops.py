"""Probes and metrics for operators: `/healthz` (alive), `/readyz` (model loaded), `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from intentforge.server.deps import MaybePoolDep, MetricsDep, ModelNameDep
from intentforge.server.errors import error_response

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Model loaded and ready to parse")
async def readyz(pool: MaybePoolDep, model_name: ModelNameDep) -> JSONResponse:
    if pool is None:
        return error_response(503, "unavailable", "model still loading")
    return JSONResponse(
        {
            "status": "ready",
            "model": model_name,
            "workers": pool.workers,
            "queue_size": pool.queue_size,
        }
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
