"""The same streams served by sse-starlette's ``EventSourceResponse``, for benchmarks only.

``bench`` installs it with ``sse.use_response_factory(eventsource_response)`` to compare it with
``SseResponse`` on the same route. The server never imports this module: importing sse-starlette
patches ``uvicorn.Server.handle_exit`` process-wide. Known differences from ``SseResponse``: its content
type carries ``; charset=utf-8`` (Starlette adds it to every ``text/`` type) and its pings run on a fixed
timer instead of after idle time, so it does not meet stream.md §0.2 byte for byte."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from tidegate.api.sse import BATCH_FRAMES, CloseHook, FrameSource

__all__ = ["eventsource_response"]


class _ClosingEventSourceResponse(EventSourceResponse):
    """``EventSourceResponse`` that runs the route's ``on_close`` hook however the stream ends."""

    def __init__(
        self, content: AsyncIterator[bytes], keep_alive: float, comment: bytes, on_close: CloseHook | None
    ):
        text = comment.decode().strip().removeprefix(":").strip()
        super().__init__(
            content,
            headers={"Cache-Control": "no-cache"},
            ping=keep_alive,
            sep="\n",
            ping_message_factory=lambda: ServerSentEvent(comment=text, sep="\n"),
        )
        self._close_hook = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._close_hook is not None:
                await self._close_hook()


async def _batches(source: FrameSource) -> AsyncIterator[bytes]:
    while (frames := await source.receive(BATCH_FRAMES, None)) is not None:
        yield b"".join(frames)


def eventsource_response(
    source: FrameSource, *, keep_alive: float, comment: bytes, on_close: CloseHook | None
) -> EventSourceResponse:
    """A ``ResponseFactory`` (see ``sse.use_response_factory``) built on sse-starlette."""
    return _ClosingEventSourceResponse(_batches(source), keep_alive, comment, on_close)
