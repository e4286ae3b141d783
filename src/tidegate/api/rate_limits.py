"""The rate limits applied to requests (security.md §9), and the ``X-RateLimit-*`` headers reporting them.

A check leaves its ``Decision`` in the request's scope state; ``EdgeMiddleware`` turns it into headers on
whatever response follows (success, error or stream), so every response of a limited endpoint carries
them. The caller limit reports on every such response; a tenant limit that refuses a dispatch reports
instead, so the headers of a 429 always describe the limit that refused it."""

from __future__ import annotations

from starlette.requests import Request

from tidegate.errors import RateLimited
from tidegate.model.caller import Caller
from tidegate.security.rate_limit import Decision
from tidegate.services import Services

__all__ = ["RATE_LIMIT_STATE", "limit_caller", "limit_route", "limit_tenant", "rate_limit_headers"]

#: The scope state entry holding the decision the response reports.
RATE_LIMIT_STATE = "rate_limit"


async def limit_caller(request: Request, services: Services, caller: Caller) -> None:
    """Count the request against its caller (api.md §1.4 step 3); RateLimited over the limit."""
    callers = services.rate_limiter.callers
    if callers is None:
        return
    decision = await callers.hit(caller.caller_id, services.clock.now())
    request.scope.setdefault("state", {})[RATE_LIMIT_STATE] = decision
    if not decision.allowed:
        raise RateLimited(
            f"rate limit exceeded: at most {decision.limit} requests per window for this caller",
            retry_after=decision.retry_after,
        )


async def limit_tenant(request: Request, services: Services, tenant: str, *, report: bool = True) -> None:
    """Count one dispatch against its tenant (features.md §1 step 3; never for dry runs, the caller's
    business). ``report=False`` for a batch item: the response's headers stay the caller's."""
    tenants = services.rate_limiter.tenants
    if tenants is None:
        return
    decision = await tenants.hit(tenant, services.clock.now())
    if not decision.allowed:
        if report:
            request.scope.setdefault("state", {})[RATE_LIMIT_STATE] = decision
        raise RateLimited(
            f"rate limit exceeded for tenant '{tenant}': at most {decision.limit} dispatches per window",
            retry_after=decision.retry_after,
        )


async def limit_route(request: Request, services: Services, caller: Caller) -> None:
    """The fixed limit of the matched route, if it has one (``ROUTE_LIMITS``); RateLimited when full.

    Endpoints call it at the step their section gives (api.md §10: after ``feature_disabled``)."""
    path: str = getattr(request.scope.get("route"), "path", None) or request.scope["path"]
    await services.rate_limiter.limit_route(
        request.scope["method"], path, caller.caller_id, services.clock.now()
    )


def rate_limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` of a decision, as raw ASGI headers."""
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(decision.reset_after).encode()),
    ]
