"""Request dependencies: the caller and the services, each from exactly one place.

Every protected endpoint gets its caller from ``get_caller`` (as a FastAPI dependency, or awaited directly
on the hot paths), so authentication slots in here without touching a router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from tidegate.model.caller import ANONYMOUS, Caller
from tidegate.services import Services

__all__ = ["ServicesDep", "get_caller", "get_services", "services_of"]


async def get_caller(request: Request) -> Caller:
    """The principal making the request; authentication is not built yet, so it is the anonymous admin."""
    return ANONYMOUS


def services_of(request: Request) -> Services:
    """What the lifespan opened (``create_app``); routers never build their own stores or clients."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """``services_of`` as a dependency; ``async`` so FastAPI calls it inline, not on its thread pool."""
    return services_of(request)


#: A route parameter receiving the services.
ServicesDep = Annotated[Services, Depends(get_services)]
