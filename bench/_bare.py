"""The baseline broadcaster: a plain Starlette ``StreamingResponse`` fed from an ``asyncio.Queue``.

It is what a straightforward SSE fan-out looks like: one unbounded queue per subscriber, the publisher
puts the same pre-encoded frame into every queue, and each response writes one frame per ``send``. It
has no filters, isolation, replay, connection limits or backpressure, so its figures are an upper bound
for delivery and, with a stalled client, its queues grow without limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

__all__ = ["PATH", "BareHub", "bare_app"]

PATH = "/bare/stream"


class BareHub:
    """The subscribers' queues; ``publish`` never waits."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes]] = set()

    def publish(self, frame: bytes) -> None:
        for queue in self.queues:
            queue.put_nowait(frame)

    def queued(self) -> list[int]:
        return [queue.qsize() for queue in self.queues]


def bare_app(hub: BareHub) -> Starlette:
    async def stream(request: Request) -> StreamingResponse:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        hub.queues.add(queue)

        async def frames() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield await queue.get()
            finally:
                hub.queues.discard(queue)

        return StreamingResponse(
            frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return Starlette(routes=[Route(PATH, stream)])
