"""``GET /health``, ``GET /metrics``, ``GET /metrics/prometheus`` (api.md §2): public, never rate limited."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.responses import Response

from tidegate.api.deps import ServicesDep
from tidegate.api.openapi import ref, responses
from tidegate.api.responses import json_response
from tidegate.errors import BackendUnavailable

__all__ = ["PROMETHEUS_CONTENT_TYPE", "router"]

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_class=Response,
    summary="Liveness and backend health",
    responses=responses(
        {
            200: ("Every backend answered its probe", ref("HealthOk")),
            503: ("A backend did not answer within 2 s (not the error body)", ref("HealthUnavailable")),
        }
    ),
)
async def health(services: ServicesDep) -> Response:
    failing = await services.probe()
    metrics = services.metrics.snapshot()
    if failing:
        return json_response({"status": "unavailable", "failing": failing, "metrics": metrics}, status=503)
    return json_response({"status": "ok", "metrics": metrics})


@router.get(
    "/metrics",
    response_class=Response,
    summary="Outcome counters of this process",
    responses=responses({200: ("The counters, in the order of api.md §2", ref("Counters"))}),
)
async def metrics(services: ServicesDep) -> Response:
    return json_response(services.metrics.snapshot())


@router.get(
    "/metrics/prometheus",
    response_class=Response,
    summary="Prometheus text exposition 0.0.4",
    responses=responses(
        {200: ("Every family, with HELP and TYPE", {"type": "string"})}, media_type="text/plain"
    ),
)
async def prometheus(services: ServicesDep) -> Response:
    if services.breakers is not None:  # shared state: read when scraped; a store outage keeps the last values
        try:
            services.metrics.set_breaker_states(await services.breakers.gauge())
        except BackendUnavailable:
            log.warning("circuit breaker states unavailable for the scrape")
    return Response(services.metrics.prometheus_text(), media_type=PROMETHEUS_CONTENT_TYPE)
