"""Server-Sent Events responses (stream.md §0): a small ASGI response that writes pre-encoded frames.

Frames are encoded once, when an event is published (``stream/frames.py``), so this response does no
encoding: it takes every frame that is ready from its ``FrameSource`` (up to a batch) and writes them in
one ``send``. When nothing was written for ``keep_alive`` seconds it writes the keep-alive comment, so
the timer restarts after every write (§0.4, idle-based). A second task watches ``http.disconnect``, so a
closed client is noticed at once even when no event flows, and the ``on_close`` hook (release the
subscription and the connection slot) runs on every exit path, cancellation included (§0.5).

Every SSE route builds its response with ``sse_response``; a benchmark can swap the implementation with
``use_response_factory`` (``api/sse_starlette_adapter.py`` wraps sse-starlette's ``EventSourceResponse``)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tidegate.stream.frames import PING

__all__ = [
    "BATCH_FRAMES",
    "SSE_HEADERS",
    "CloseHook",
    "FrameChannel",
    "FrameSource",
    "ResponseFactory",
    "SseResponse",
    "sse_response",
    "use_response_factory",
]

log = logging.getLogger(__name__)

#: The response head of every stream (§0.2); the edge middleware adds ``X-Request-ID``. The content type
#: has no charset parameter, and there is no ``Content-Length``: uvicorn sends the body chunked.
SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)

#: Most frames written in one ``send``: enough to drain a burst in a few writes, small enough that one
#: write stays well under the transport's 64 KiB high-water mark with typical frames.
BATCH_FRAMES = 128

#: Runs once when the response ends, however it ends.
CloseHook = Callable[[], Awaitable[None]]


class FrameSource(Protocol):
    """Where a stream's frames come from (``Subscription`` and ``FrameChannel`` are sources)."""

    async def receive(self, limit: int, max_wait: float | None) -> list[bytes] | None:
        """Up to ``limit`` frames in order, waiting for the first; ``[]`` after ``max_wait`` idle seconds;
        ``None`` when the stream is over. Cancelling a waiting call must lose no frame."""
        ...


class SseResponse(Response):
    """A ``text/event-stream`` response fed by a ``FrameSource``.

    The stream ends normally (terminating chunk) when the source returns ``None``; it stops without
    another write when the client disconnects. ``on_close`` runs in both cases and on cancellation."""

    def __init__(
        self,
        source: FrameSource,
        *,
        keep_alive: float,
        comment: bytes = PING,
        on_close: CloseHook | None = None,
    ) -> None:
        self.status_code = 200
        self.media_type = "text/event-stream"
        self.background = None
        self.raw_headers = list(SSE_HEADERS)
        self._source = source
        self._keep_alive = keep_alive
        self._comment = comment
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._serve(receive, send)
        finally:
            if self._on_close is not None:
                await self._on_close()
        if self.background is not None:
            await self.background()

    async def _serve(self, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self._write(send))
        watcher = loop.create_task(_wait_for_disconnect(receive))
        try:
            await asyncio.wait((writer, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            writer.cancel()
            watcher.cancel()
            await asyncio.wait((writer, watcher))
        if not writer.cancelled():
            writer.result()  # a bug in the source surfaces here (logged by the edge middleware)

    async def _write(self, send: Send) -> None:
        source, keep_alive, comment = self._source, self._keep_alive, self._comment
        try:
            while (frames := await source.receive(BATCH_FRAMES, keep_alive)) is not None:
                body = b"".join(frames) if frames else comment
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            log.debug("client connection lost while writing a stream")


async def _wait_for_disconnect(receive: Receive) -> None:
    """Return on ``http.disconnect``; a request body the client sends anyway is read and ignored."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # e.g. a body over the limit: stop the stream, the client is misbehaving
        log.debug("stopped reading the request of a stream", exc_info=True)


class FrameChannel:
    """A ``FrameSource`` filled by a producer task: ``put`` frames, then ``finish``.

    Unbounded, for streams whose producer writes a bounded number of frames (one dispatch, one chain run).
    ``close`` (on disconnect) drops what is queued and makes later ``put`` calls no-ops."""

    def __init__(self) -> None:
        self._frames: deque[bytes] = deque()
        self._finished = False
        self._closed = False
        self._ready = asyncio.Event()

    @property
    def closed(self) -> bool:
        """The consumer is gone: a producer may stop early."""
        return self._closed

    def put(self, frame: bytes) -> None:
        if self._closed or self._finished:
            return
        self._frames.append(frame)
        self._ready.set()

    def finish(self) -> None:
        """No more frames: ``receive`` returns what is left, then ``None``."""
        self._finished = True
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._frames.clear()
        self._ready.set()

    async def receive(self, limit: int, max_wait: float | None) -> list[bytes] | None:
        if not self._frames and not self._finished and not self._closed:
            try:
                await asyncio.wait_for(self._ready.wait(), max_wait)
            except TimeoutError:
                return []
        self._ready.clear()
        if self._closed or (self._finished and not self._frames):
            return None
        frames = self._frames
        return [frames.popleft() for _ in range(min(max(limit, 1), len(frames)))]


class ResponseFactory(Protocol):
    """Builds the response of a stream; ``sse_response`` calls the installed one."""

    def __call__(
        self, source: FrameSource, *, keep_alive: float, comment: bytes, on_close: CloseHook | None
    ) -> Response: ...


_factory: ResponseFactory = SseResponse


def sse_response(
    source: FrameSource, *, keep_alive: float, comment: bytes = PING, on_close: CloseHook | None = None
) -> Response:
    """The response every SSE route returns (``SseResponse`` unless a benchmark swapped it)."""
    return _factory(source, keep_alive=keep_alive, comment=comment, on_close=on_close)


def use_response_factory(factory: ResponseFactory | None) -> None:
    """Benchmarks only: serve streams with ``factory`` (``None`` restores ``SseResponse``).

    Process-wide and read when each stream starts, so set it before the server accepts connections."""
    global _factory
    _factory = SseResponse if factory is None else factory
