"""The SSE response (``api/sse.py``) driven directly as an ASGI app with a scripted frame source.

The end-to-end behaviour over uvicorn is in ``tests/stream_http``; these pin what is hard to see from a
client: the exact messages, the keep-alive wait restarting after every write, cleanup on every exit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from starlette.responses import Response
from starlette.types import Message, Scope

from tidegate.api import sse
from tidegate.api.sse import BATCH_FRAMES, SSE_HEADERS, FrameChannel, SseResponse, sse_response
from tidegate.stream.frames import HEARTBEAT, PING

SCOPE: Scope = {"type": "http", "method": "GET", "path": "/v1/stream", "headers": []}
BLOCK = object()  # the source waits until cancelled


class Script:
    """A FrameSource answering each ``receive`` with the next scripted result."""

    def __init__(self, *results: object) -> None:
        self.results = list(results)
        self.waits: list[float | None] = []
        self.cancelled = False

    async def receive(self, limit: int, max_wait: float | None) -> list[bytes] | None:
        assert limit == BATCH_FRAMES
        self.waits.append(max_wait)
        result = self.results.pop(0) if self.results else BLOCK
        if isinstance(result, Exception):
            raise result
        if result is BLOCK:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        assert result is None or isinstance(result, list)
        return result


class Closes:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


def receiver(disconnect: asyncio.Event | None = None) -> Callable[[], Awaitable[Message]]:
    """The request (no body), then ``http.disconnect`` once ``disconnect`` is set (never if None)."""
    messages = 0

    async def receive() -> Message:
        nonlocal messages
        messages += 1
        if messages == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await (disconnect or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    return receive


async def serve(response: Response, disconnect: asyncio.Event | None = None) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async with asyncio.timeout(5):
        await response(SCOPE, receiver(disconnect), send)
    return sent


def bodies(sent: list[Message]) -> list[tuple[bytes, bool]]:
    return [(message["body"], message["more_body"]) for message in sent[1:]]


async def test_head_then_batches_and_pings_then_a_normal_end() -> None:
    source, closes = Script([b"a\n\n", b"b\n\n"], [], [b"c\n\n"], None), Closes()
    sent = await serve(SseResponse(source, keep_alive=7.0, on_close=closes))
    assert sent[0] == {"type": "http.response.start", "status": 200, "headers": list(SSE_HEADERS)}
    assert bodies(sent) == [(b"a\n\nb\n\n", True), (PING, True), (b"c\n\n", True), (b"", False)]
    assert source.waits == [7.0, 7.0, 7.0, 7.0]  # every wait starts afresh after a write (idle-based)
    assert closes.count == 1


async def test_the_keep_alive_comment_is_configurable() -> None:
    sent = await serve(SseResponse(Script([], None), keep_alive=1.0, comment=HEARTBEAT))
    assert bodies(sent) == [(HEARTBEAT, True), (b"", False)]


async def test_disconnect_stops_the_stream_at_once_and_closes() -> None:
    source, closes, gone = Script([b"a\n\n"], BLOCK), Closes(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, gone.set)
    sent = await serve(SseResponse(source, keep_alive=60.0, on_close=closes), gone)
    assert bodies(sent) == [(b"a\n\n", True)]  # no terminating chunk for a client that left
    assert source.cancelled and closes.count == 1


async def test_cancelling_the_response_still_closes() -> None:
    source, closes = Script(BLOCK), Closes()
    task = asyncio.create_task(serve(SseResponse(source, keep_alive=60.0, on_close=closes)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.cancelled and closes.count == 1


async def test_a_failing_source_is_raised_after_closing() -> None:
    closes = Closes()
    with pytest.raises(RuntimeError, match="bug"):
        await serve(SseResponse(Script(RuntimeError("bug")), keep_alive=1.0, on_close=closes))
    assert closes.count == 1


async def test_a_send_that_fails_with_oserror_ends_quietly() -> None:
    closes = Closes()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("connection reset")

    response = SseResponse(Script([b"a\n\n"]), keep_alive=1.0, on_close=closes)
    async with asyncio.timeout(5):
        await response(SCOPE, receiver(), send)
    assert closes.count == 1


async def test_frame_channel_delivers_then_ends() -> None:
    channel = FrameChannel()
    assert await channel.receive(10, 0.01) == []  # idle: time for a keep-alive
    waiting = asyncio.create_task(channel.receive(10, None))
    await asyncio.sleep(0)
    channel.put(b"a")
    assert await waiting == [b"a"]
    for frame in (b"b", b"c", b"d"):
        channel.put(frame)
    channel.finish()
    channel.put(b"late")  # after finish: ignored
    assert await channel.receive(2, None) == [b"b", b"c"]
    assert await channel.receive(2, None) == [b"d"]
    assert await channel.receive(2, None) is None


async def test_frame_channel_close_drops_everything() -> None:
    channel = FrameChannel()
    channel.put(b"a")
    channel.close()
    channel.put(b"b")
    assert channel.closed
    assert await channel.receive(10, None) is None


async def test_a_benchmark_can_swap_the_response() -> None:
    made: list[float] = []

    def factory(source: sse.FrameSource, *, keep_alive: float, comment: bytes, on_close: object) -> Response:
        made.append(keep_alive)
        return Response(b"swapped")

    source = FrameChannel()
    sse.use_response_factory(factory)
    try:
        assert sse_response(source, keep_alive=3.0).body == b"swapped"
    finally:
        sse.use_response_factory(None)
    assert made == [3.0]
    assert isinstance(sse_response(source, keep_alive=3.0), SseResponse)


async def test_sse_starlette_adapter_serves_the_same_frames() -> None:
    from tidegate.api.sse_starlette_adapter import eventsource_response

    channel, closes = FrameChannel(), Closes()
    channel.put(b"event: x\ndata: {}\n\n")
    asyncio.get_running_loop().call_later(0.3, channel.finish)
    sent = await serve(eventsource_response(channel, keep_alive=0.05, comment=PING, on_close=closes))
    chunks = [body for body, _ in bodies(sent)]
    assert chunks[0] == b"event: x\ndata: {}\n\n"
    assert PING in chunks and chunks[-1] == b""
    assert closes.count == 1
