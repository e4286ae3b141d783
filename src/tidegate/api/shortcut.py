"""Serve ``POST /v1/dispatch`` in front of FastAPI's routing: the benchmarked hot path, without the detour.

The route is still registered with FastAPI (so it is documented in /openapi.json and serves any request
the shortcut does not take); the shortcut only calls the same endpoint sooner. FastAPI's routing,
dependency and exception layers cost more per request than the whole pipeline, and the endpoint uses
none of them: it takes the raw ``Request`` and reads its own body (``api/body.py``).

What every request gets is kept: the same user middleware instances' classes wrap the endpoint
(``EdgeMiddleware``: request id, body limit, error body, metrics, access log; CORS when configured), and
an exception reaches ``EdgeMiddleware``, which renders it through the same ``errors.render`` the
FastAPI exception handlers use. ``scope["route"]`` is set as routing would, so the HTTP metric keeps
its route label. The shortcut stays off where FastAPI must see the request: a ``root_path`` (routing
strips it), and FastAPI's native OpenTelemetry instrumentation when a global provider is configured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DISPATCH_PATH", "DispatchShortcut", "build_shortcut"]

DISPATCH_PATH = "/v1/dispatch"

Endpoint = Callable[[Request], Awaitable[Response]]


class DispatchShortcut:
    """``takes(scope)`` decides (no I/O); calling the shortcut serves the request through its middleware."""

    __slots__ = ("_app", "_endpoint", "_route")

    def __init__(self, route: BaseRoute, endpoint: Endpoint, middleware: Sequence[Middleware]) -> None:
        self._route = route
        self._endpoint = endpoint
        app: ASGIApp = self._serve
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        self._app = app

    @staticmethod
    def takes(scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["path"] == DISPATCH_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self._route
        scope["endpoint"] = self._endpoint
        scope["path_params"] = {}
        response = await self._endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def build_shortcut(app: FastAPI, routes: Sequence[BaseRoute]) -> DispatchShortcut | None:
    """The shortcut for the ``POST /v1/dispatch`` route among ``routes``, or None where it must stay off.

    Call it when the app serves its first request: the middleware list is final by then."""
    if app.root_path or _native_telemetry_enabled(app):
        return None
    for route in routes:
        methods = getattr(route, "methods", None) or ()
        endpoint = getattr(route, "endpoint", None)
        if getattr(route, "path", None) == DISPATCH_PATH and "POST" in methods and endpoint is not None:
            return DispatchShortcut(route, endpoint, app.user_middleware)
    return None


def _native_telemetry_enabled(app: FastAPI) -> bool:
    """FastAPI (0.16x+) traces requests itself once a global OpenTelemetry provider is configured."""
    telemetry = getattr(app, "_native_telemetry", None)
    enabled = getattr(telemetry, "enabled", None)
    return bool(enabled()) if callable(enabled) else False
