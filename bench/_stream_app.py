"""The stream benchmark's server: Tidegate, the bare broadcaster and bench-only controls in one process.

``python bench/_serve.py stream PORT DIR`` serves it under the same uvicorn settings as every benchmarked
app, so the implementations compared share the server, the interpreter and the CPU:

- ``GET /v1/stream`` and everything else: Tidegate's app from ``create_app``, untouched. Its streams use
  ``SseResponse``, or sse-starlette's ``EventSourceResponse`` after ``POST /bench/factory``.
- ``GET /bare/stream``: the baseline of ``_bare.py``, outside Tidegate's middleware.
- ``/bench/*``: controls that exist only here. ``POST /bench/publish`` runs the publisher of
  ``_publisher.py`` into Tidegate's event log (``services.events``, as the recorder appends) or into the
  bare broadcaster, and answers when it is done; ``GET /bench/state`` counts subscribers and queued
  frames; ``POST /bench/factory`` picks the response implementation for the streams opened next."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import orjson
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from _bare import BareHub, bare_app
from _publisher import Plan, bench_event, publish_on_schedule
from tidegate.api import sse
from tidegate.services import Services
from tidegate.stream.frames import encode_event

__all__ = ["FACTORIES", "Target", "stream_bench_app"]

Target = Literal["tidegate", "bare"]
#: The response implementations ``/v1/stream`` can run on.
FACTORIES = ("tidegate", "sse-starlette")


def _json(value: object, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")


def _use_factory(name: str) -> None:
    if name == "sse-starlette":
        # Imported only when asked: importing sse-starlette patches uvicorn's exit handler.
        from tidegate.api.sse_starlette_adapter import eventsource_response

        sse.use_response_factory(eventsource_response)
    else:
        sse.use_response_factory(None)


def _control_app(tidegate: FastAPI, hub: BareHub) -> Starlette:
    def services() -> Services:
        opened: Services = tidegate.state.services
        return opened

    def publisher(target: Target) -> Callable[[int], Awaitable[None]]:
        opened = services()
        now = opened.clock.now
        if target == "bare":

            async def to_bare(tag: int) -> None:
                hub.publish(encode_event(bench_event(tag, now())))

            return to_bare
        append = opened.events.append

        async def to_log(tag: int) -> None:
            await append([bench_event(tag, now())])

        return to_log

    async def publish(request: Request) -> Response:
        body = orjson.loads(await request.body())
        rate = float(body["rate"])
        plan = Plan(
            rate, round(float(body["warmup"]) * rate), round(float(body["seconds"]) * rate), int(body["tag"])
        )
        report = await publish_on_schedule(plan, publisher(body["target"]))
        return _json(
            {
                "warmup": report.warmup,
                "measured": report.measured,
                "seconds": report.seconds,
                "late_p99_ms": report.late_p99_ms,
                "late_max_ms": report.late_max_ms,
            }
        )

    async def state(request: Request) -> Response:
        broadcaster = services().broadcaster
        return _json(
            {
                "tidegate": {
                    "subscribers": broadcaster.subscriber_count,
                    "queued": [subscription.pending for subscription in broadcaster.subscriptions],
                    "dropped": broadcaster.dropped_total,
                    "queue_size": services().settings.stream.queue_size,
                },
                "bare": {"subscribers": len(hub.queues), "queued": hub.queued()},
            }
        )

    async def factory(request: Request) -> Response:
        name = orjson.loads(await request.body())["name"]
        if name not in FACTORIES:
            return _json({"error": f"unknown factory {name!r}"}, 400)
        _use_factory(name)
        return _json({"factory": name})

    return Starlette(
        routes=[
            Route("/bench/publish", publish, methods=["POST"]),
            Route("/bench/state", state),
            Route("/bench/factory", factory, methods=["POST"]),
        ]
    )


class _Dispatcher:
    """Routes by path prefix, so the bare app and the controls never pass through Tidegate's middleware."""

    def __init__(self, tidegate: FastAPI, bare: ASGIApp, control: ASGIApp) -> None:
        self._tidegate = tidegate
        self._bare = bare
        self._control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/bare/"):
                await self._bare(scope, receive, send)
                return
            if path.startswith("/bench/"):
                await self._control(scope, receive, send)
                return
        await self._tidegate(scope, receive, send)  # the lifespan too: it opens Tidegate's services


def stream_bench_app(tidegate: FastAPI) -> ASGIApp:
    """``tidegate`` (from ``create_app``) with the bare broadcaster and the controls beside it."""
    hub = BareHub()
    return _Dispatcher(tidegate, bare_app(hub), _control_app(tidegate, hub))
