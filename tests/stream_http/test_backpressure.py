"""A stalled client (stream.md §1.9): a raw socket that sends its request and stops reading.

While it is stalled, another subscriber keeps receiving every event as it is published, and what the
server holds for the stalled one stays bounded: at most ``queue_size`` (+1 ``lagged``) frames in its
queue and one high-water mark plus one write batch in its transport. When it reads again it gets the
events queued before the gap, one ``lagged`` frame counting exactly the events it lost, then the rest."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.stream_http._client import subscribe
from tests.stream_http._server import StreamServer, make
from tests.stream_http.conftest import stream_server
from tidegate.api.sse import BATCH_FRAMES
from tidegate.stream.frames import encode_event

QUEUE_SIZE = 16  # the smallest the config allows
ROUND = 10  # events per publish: fewer than QUEUE_SIZE, so the reading subscriber never lags
#: asyncio's default transport high-water mark; uvicorn waits for it to drain before each write.
HIGH_WATER = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamServer]:
    with stream_server(tmp_path_factory.mktemp("lag"), stream={"queue_size": QUEUE_SIZE}) as running:
        yield running


def stalled_client(url: str) -> socket.socket:
    """Connected with the request sent; nothing is read until the test says.

    A small receive buffer and segment size keep the kernel from absorbing megabytes first (loopback's
    64 KiB segments let the server's send buffer grow to 4 MiB), so the stall comes quickly."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1024)
    sock.connect((host, int(port)))
    sock.sendall(b"GET /v1/stream?namespace=bulk HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
    return sock


def read_until(sock: socket.socket, raw: bytearray, marker: bytes) -> None:
    """Add what the socket delivers to ``raw`` until it holds ``marker``.

    Searching the raw bytes is enough: every write carries whole frames, so a frame never spans chunks."""
    sock.settimeout(10)
    start = 0
    while raw.find(marker, start) < 0:
        start = max(0, len(raw) - len(marker))
        chunk = sock.recv(1 << 16)
        assert chunk, "connection closed"
        raw.extend(chunk)


def dechunk(raw: bytes) -> bytes:
    """The body of an HTTP/1.1 chunked response, as far as it has arrived."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return b""
    body, rest = bytearray(), raw[head_end + 4 :]
    while (line_end := rest.find(b"\r\n")) >= 0:
        size = int(rest[:line_end], 16)
        if len(rest) < line_end + 2 + size + 2:
            break
        body.extend(rest[line_end + 2 : line_end + 2 + size])
        rest = rest[line_end + 4 + size :]
    return bytes(body)


def frames_of(body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(event name, id, data) of every event frame; comments (pings) are skipped."""
    frames = []
    for text in body.split(b"\n\n"):
        fields = dict(re.findall(rb"^(event|id|data): (.*)$", text, re.MULTILINE))
        if b"event" in fields:
            frame_id = fields[b"id"].decode() if b"id" in fields else None
            frames.append((fields[b"event"].decode(), frame_id, fields[b"data"]))
    return frames


async def test_stalled_client_gets_lagged_while_others_keep_up(server: StreamServer) -> None:
    services = server.services
    broadcaster = services.broadcaster
    sock = stalled_client(server.url)
    try:
        await server.wait_for(lambda: broadcaster.subscriber_count == 1)
        stalled = broadcaster.subscriptions[0]
        published: list[str] = []
        most_queued = most_buffered = 0
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
            async with subscribe(client, {"namespace": "bulk"}) as healthy:
                # Publish until the stalled subscriber has lost plenty; the other must get every
                # round as it is published (a publish that waited for the stalled one would hang here).
                for _ in range(800):
                    events = await server.publish([make(namespace="bulk") for _ in range(ROUND)])
                    published.extend(event.id for event in events)
                    assert await healthy.ids(ROUND, within=2.0) == [event.id for event in events]
                    most_queued = max(most_queued, stalled.pending)
                    most_buffered = max(most_buffered, *server.write_buffer_sizes())
                    if broadcaster.dropped_total >= 200:
                        break
                skipped = broadcaster.dropped_total
                assert skipped >= 200, "the client never stalled"
                assert most_queued <= QUEUE_SIZE + 1
                frame_size = len(encode_event(make(namespace="bulk"))) + 16  # + chunk framing
                assert most_buffered <= HIGH_WATER + BATCH_FRAMES * frame_size
            # Reading again drains what was queued before the gap, then the gap is reported at once.
            raw = bytearray()
            await asyncio.to_thread(read_until, sock, raw, b"event: lagged\n")
            assert broadcaster.dropped_total == skipped
            after_gap = await server.publish([make(namespace="bulk") for _ in range(3)])
            published.extend(event.id for event in after_gap)
            await asyncio.to_thread(read_until, sock, raw, after_gap[-1].id.encode() + b"\ndata: ")
            frames = frames_of(dechunk(bytes(raw)))
            gaps = [index for index, (name, _, _) in enumerate(frames) if name == "lagged"]
            assert len(gaps) == 1
            gap = gaps[0]
            assert orjson.loads(frames[gap][2]) == {"skipped": skipped}
            assert frames[gap][1] is None  # lagged frames have no id
            before = [frame_id for _, frame_id, _ in frames[:gap]]
            after = [frame_id for _, frame_id, _ in frames[gap + 1 :]]
            assert before == published[: len(before)]
            assert after == [event.id for event in after_gap]
            assert len(before) + skipped + len(after) == len(published)
            prometheus = (await client.get("/metrics/prometheus")).text
            assert f"tidegate_stream_lagged_events_total {float(skipped)}" in prometheus
    finally:
        sock.close()
    await server.wait_for(server.idle)
