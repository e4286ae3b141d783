"""``GET /admin/circuit-breakers``, ``POST /admin/circuit-breakers/{provider}/trip`` and ``/reset``
(api.md §11); every answer is 404 ``feature_disabled`` while breakers are off."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidegate.api.deps import ServicesDep, authorize
from tidegate.api.openapi import AUTH_ERRORS, PROTECTED, ref, responses
from tidegate.api.responses import json_response
from tidegate.breakers import Breakers
from tidegate.errors import FeatureDisabled
from tidegate.services import Services

__all__ = ["router"]

router = APIRouter(tags=["circuit breakers"], dependencies=[Depends(authorize)])


def _breakers(services: Services) -> Breakers:
    if services.breakers is None:
        raise FeatureDisabled("circuit breakers are disabled")
    return services.breakers


@router.get(
    "/admin/circuit-breakers",
    response_class=Response,
    summary="Every provider's circuit breaker, sorted by provider",
    responses=responses(
        {200: ("The breakers and their effective states", ref("BreakerList"))}, (*AUTH_ERRORS, 404, 503)
    ),
    openapi_extra={"security": PROTECTED},
)
async def list_breakers(services: ServicesDep) -> Response:
    return json_response({"circuit_breakers": await _breakers(services).listing()})


@router.post(
    "/admin/circuit-breakers/{provider}/trip",
    response_class=Response,
    summary="Force a provider's breaker open, cluster-wide, until it is reset",
    responses=responses({200: ("The breaker is open", ref("BreakerChange"))}, (*AUTH_ERRORS, 404, 503)),
    openapi_extra={"security": PROTECTED},
)
async def trip_breaker(provider: str, services: ServicesDep) -> Response:
    await _breakers(services).trip(provider)
    return json_response({"provider": provider, "state": "open", "message": "circuit breaker tripped"})


@router.post(
    "/admin/circuit-breakers/{provider}/reset",
    response_class=Response,
    summary="Close a provider's breaker, cluster-wide, clearing its counters and any trip",
    responses=responses({200: ("The breaker is closed", ref("BreakerChange"))}, (*AUTH_ERRORS, 404, 503)),
    openapi_extra={"security": PROTECTED},
)
async def reset_breaker(provider: str, services: ServicesDep) -> Response:
    await _breakers(services).reset(provider)
    return json_response({"provider": provider, "state": "closed", "message": "circuit breaker reset"})
