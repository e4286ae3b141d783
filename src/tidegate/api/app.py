"""The composition root of the HTTP layer: ``create_app`` wires settings, services, middleware and routers.

The lifespan opens the services (``open_services``) unless they are given, keeps them on
``app.state.services`` for ``deps.get_services``, and closes what it opened on shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from tidegate import __version__
from tidegate.api.deps import check_route_table
from tidegate.api.drain import drain_on_signal
from tidegate.api.errors import install_error_handlers
from tidegate.api.middleware import BodyLimits, EdgeMiddleware
from tidegate.api.openapi import build_openapi
from tidegate.api.routers import (
    approvals,
    audit,
    auth,
    breakers,
    chains,
    dispatch,
    dispatch_stream,
    docs,
    embeddings,
    events,
    execution_stream,
    groups,
    health,
    recurring,
    rules,
    stream,
    ui,
)
from tidegate.api.shortcut import DispatchShortcut, build_shortcut
from tidegate.clock import Clock
from tidegate.config import Settings
from tidegate.gc_tuning import serving_gc
from tidegate.services import Services, close_services, open_services

__all__ = ["TidegateApp", "create_app"]

_DESCRIPTION = (
    "Tidegate: clients send actions, rules decide each action's fate, providers carry it out, and every "
    "result is audited. Every error has the `Error` body; every response carries `X-Request-ID`."
)

#: Response headers a browser client may read across origins (when CORS is on).
_EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "X-Audit-Status",
    "Location",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]


class TidegateApp(FastAPI):
    """FastAPI with Tidegate's OpenAPI document (``openapi.build_openapi``) and the dispatch shortcut
    (``api/shortcut.py``), built on the first request, once the middleware list is final."""

    _shortcut: DispatchShortcut | None = None
    _shortcut_built = False

    def openapi(self) -> dict[str, Any]:
        return build_openapi(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not self._shortcut_built:
                self._shortcut = build_shortcut(self, dispatch.router.routes)
                self._shortcut_built = True
            shortcut = self._shortcut
            if shortcut is not None and shortcut.takes(scope):
                scope["app"] = self
                await shortcut(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings, *, services: Services | None = None, clock: Clock | None = None
) -> FastAPI:
    """Build the ASGI app. With ``services`` given the caller owns them; otherwise the lifespan opens them
    (with ``clock``, default the system clock) and closes them on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = services if services is not None else await open_services(settings, clock)
        app.state.services = opened
        try:
            # GC tuning after the services opened, so what they built is frozen too.
            with serving_gc(), drain_on_signal(opened.drain_streams):
                yield
        finally:
            if services is None:
                await close_services(opened)

    app = TidegateApp(
        title="Tidegate",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    install_error_handlers(app)
    for module in (
        health,
        dispatch,
        dispatch_stream,
        stream,
        rules,
        audit,
        events,
        approvals,
        groups,
        recurring,
        chains,
        breakers,
        embeddings,
        auth,
        docs,
        ui,
        execution_stream,  # after the chains router: /v1/chains/definitions/{name} must win (§9)
    ):
        app.include_router(module.router)
    check_route_table(app.routes)  # every route has a permission (security/permissions.py)
    cors = settings.server.cors
    if cors.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors.allowed_origins),
            allow_methods=list(cors.allowed_methods),
            allow_headers=list(cors.allowed_headers),
            allow_credentials=cors.allow_credentials,
            expose_headers=_EXPOSED_HEADERS,
        )
    limits = BodyLimits(settings.server.max_body_bytes, settings.server.max_batch_body_bytes)
    app.add_middleware(EdgeMiddleware, app_state=app.state, limits=limits)
    return app
