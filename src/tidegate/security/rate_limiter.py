"""Which rate limits apply to whom (security.md §9, config.md §4.14), on their StateStore counters.

* **callers** (``rate_limit.enabled``): every endpoint that needs credentials, per caller id;
* **tenants** (``rate_limit.tenants.enabled``): HTTP dispatches that are not dry runs, per exact tenant;
* **routes** (``ROUTE_LIMITS``): fixed per-caller limits of single endpoints, always on, checked by the
  endpoint itself where its section orders them (the embedding similarity limit comes after its 404).

Nothing here knows HTTP: ``api/rate_limits.py`` applies it to requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import MappingProxyType

from tidegate.config.access import RateLimitScope, RateLimitSettings
from tidegate.errors import RateLimited
from tidegate.security.counters import SlidingLog, WindowCounter
from tidegate.security.permissions import route_key
from tidegate.security.rate_limit import Decision, Limit
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["ROUTE_LIMITS", "RateLimiter", "RouteLimit"]


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """A fixed sliding-window limit per caller on one endpoint; ``name`` scopes its store keys."""

    name: str
    limit: Limit


#: Fixed per-caller limits by ``permissions.route_key``, whatever ``rate_limit.enabled`` says (config.md
#: §4.14). The embedding route calls ``RateLimiter.limit_route`` after its ``feature_disabled`` check.
ROUTE_LIMITS: Mapping[tuple[str, str], RouteLimit] = MappingProxyType(
    {("POST", "/v1/embeddings/similarity"): RouteLimit("embeddings", Limit(5, 60))}
)


class _Scope:
    """One configured scope (callers or tenants): its default limit, overrides, and counter."""

    __slots__ = ("_counter", "_default", "_overrides")

    def __init__(self, settings: RateLimitScope, counter: WindowCounter) -> None:
        self._default = Limit(settings.requests_per_window, settings.window_seconds)
        self._overrides = {key: Limit(*settings.limit_for(key)) for key in settings.overrides}
        self._counter = counter

    async def hit(self, ident: str, now: datetime) -> Decision:
        limit = self._overrides.get(ident, self._default)
        return await self._counter.hit(ident, limit, now.timestamp())


class RateLimiter:
    """``callers`` / ``tenants`` are None when that limit is off: checking for it is all a request pays."""

    def __init__(
        self,
        settings: RateLimitSettings,
        store: StateStore,
        routes: Mapping[tuple[str, str], RouteLimit] = ROUTE_LIMITS,
    ) -> None:
        self.callers = _Scope(settings.callers, WindowCounter(store, "caller")) if settings.enabled else None
        tenants = settings.tenants
        self.tenants = _Scope(tenants, WindowCounter(store, "tenant")) if tenants.enabled else None
        self._routes = {
            key: SlidingLog(store, route.limit, partial(keys.rate_log, route.name))
            for key, route in routes.items()
        }

    async def limit_route(self, method: str, path: str, caller_id: str, now: datetime) -> None:
        """Count one request of ``caller_id`` on the route (``path`` as its template); RateLimited when full.

        A route without a fixed limit passes uncounted. A refused request is not counted, so the wait is
        until the oldest counted request leaves the window (api.md §10)."""
        log = self._routes.get(route_key(method, path))
        if log is None:
            return
        wait = await log.hit(caller_id, now.timestamp())
        if wait is not None:
            raise RateLimited("rate limit exceeded for this endpoint; retry later", retry_after=wait)
