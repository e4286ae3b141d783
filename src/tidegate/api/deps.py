"""Request dependencies: the caller, its permission, and the services, each from exactly one place.

Every protected endpoint gets its caller through ``authorize`` (as a FastAPI dependency, or awaited
directly on the dispatch hot paths), which authenticates (``get_caller``) and then checks the route's
permission in ``security.permissions.ROUTES`` against the caller's role. With authentication disabled,
``get_caller`` is a constant return of the anonymous admin, so the dispatch path pays almost nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated

import fastapi.routing
from fastapi import Depends
from starlette.requests import Request
from starlette.routing import BaseRoute

from tidegate.api.body import receive_body
from tidegate.api.rate_limits import limit_caller
from tidegate.errors import Forbidden
from tidegate.model.caller import ANONYMOUS, Caller
from tidegate.security.permissions import role_allows, route_rule, unlisted_routes
from tidegate.services import Services

__all__ = [
    "CallerDep",
    "ServicesDep",
    "authorize",
    "check_route_table",
    "get_caller",
    "get_services",
    "served_routes",
    "services_of",
]


async def get_caller(request: Request) -> Caller:
    """The principal the request's credentials prove; raises Unauthenticated (401).

    Auth disabled: the anonymous admin, whatever the request sends (D18)."""
    auth = services_of(request).auth
    if auth is None:
        return ANONYMOUS
    headers = request.headers
    return await auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))


async def authorize(request: Request, caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """The caller, once its role holds the permission the route table gives this route (else 403).

    api.md §1.4 orders the checks: authentication (done), the caller rate limit (when enabled), the body
    size, then the permission. A refused request to an endpoint that takes a body reads the body first,
    so a body over the limit answers 413 rather than 403."""
    await limit_caller(request, services_of(request), caller)  # the anonymous caller counts too
    if caller is ANONYMOUS:  # auth disabled: the anonymous admin holds every permission
        return caller
    route = request.scope.get("route")
    rule = route_rule(request.scope["method"], getattr(route, "path", ""))
    if rule is None:  # check_route_table makes this unreachable for a route the app serves
        raise Forbidden("this endpoint has no permission rule")
    if not role_allows(caller.role, rule.permission):
        if rule.takes_body:
            await receive_body(request)  # raises PayloadTooLarge past the limit
        raise Forbidden(f"role '{caller.role.value}' lacks the '{rule.permission.value}' permission")
    return caller


def served_routes(routes: Sequence[BaseRoute]) -> list[tuple[str, str]]:
    """Every (method, path) the routes serve, HEAD left out, through FastAPI's included routers.

    Raises RuntimeError for a router prefix: ``authorize`` looks a route up by the path the matched
    route carries, which leaves the prefix out."""
    served: set[tuple[str, str]] = set()
    for path, methods, own_path in _flat_routes(routes):
        if path is None:
            continue
        if own_path != path:
            raise RuntimeError(f"router prefixes are not supported by the permission lookup: {path}")
        served.update((method, path) for method in methods or () if method != "HEAD")
    return sorted(served)


def _flat_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str | None, Iterable[str] | None, object]]:
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before included-router contexts: ``app.routes`` is already flat
        for route in routes:
            path = getattr(route, "path", None)
            yield path, getattr(route, "methods", None), path
        return
    for context in contexts(routes):
        yield context.path, context.methods, getattr(context.original_route, "path", None)


def check_route_table(routes: Sequence[BaseRoute]) -> None:
    """Refuse to build an app with a route the permission table does not list (a missing decision)."""
    missing = unlisted_routes(served_routes(routes))
    if missing:
        raise RuntimeError(
            "routes without an entry in tidegate.security.permissions.ROUTES: " + ", ".join(missing)
        )


def services_of(request: Request) -> Services:
    """What the lifespan opened (``create_app``); routers never build their own stores or clients."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """``services_of`` as a dependency; ``async`` so FastAPI calls it inline, not on its thread pool."""
    return services_of(request)


#: A route parameter receiving the services.
ServicesDep = Annotated[Services, Depends(get_services)]
#: A route parameter receiving the authorized caller (authentication, then the route's permission).
CallerDep = Annotated[Caller, Depends(authorize)]
