"""The stream benchmark's client: many SSE connections over raw HTTP/1.1 in one uvloop process.

``python bench/_sse_load.py HOST PORT`` reads one JSON command per line on stdin and answers each with one
JSON line on stdout:

- ``{"op": "open", "path": P, "count": N}``: open N streams of ``GET P``; answers once every one has its
  response head: ``{"opened": N, "failed": F, "seconds": S}``.
- ``{"op": "collect", "tag": K, "expected": E, "file": F, "quiet": Q, "timeout": T}``: wait until no byte
  arrived for Q seconds, then parse what arrived; repeat until every stream holds the E events tagged K,
  or T seconds passed. Writes the latency (ns) of each tag-K delivery to F as native int64 and answers
  ``{"delivered": n, "other": n, "lagged": n, "lost": n, "complete": bool}``.
- ``{"op": "close"}``: reset every stream (no TIME_WAIT left behind); ``{"op": "exit"}``.

Receiving does the least it can: a chunk is stored with its CLOCK_MONOTONIC arrival time. Frames are parsed
only in ``collect``, once the publisher has stopped and the streams went quiet, so parsing never delays
the receipt of a frame still being measured. A frame arrives with the chunk that completes it."""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import sys
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import orjson
import uvloop

from _run import raise_open_files_limit

__all__ = ["Tally", "main", "parse_chunks"]

#: The tag and publish time of a benchmark event (``_publisher.bench_event``'s outcome body).
FRAME = re.compile(rb'"k":(\d+),"t":(\d+)')
LAGGED = b"event: lagged"
_CONNECTING = 64  # connection attempts in flight at once
_NO_LINGER = struct.pack("ii", 1, 0)  # close sends RST: no TIME_WAIT from thousands of short streams


@dataclass
class Tally:
    """What parsing found: tag-K latencies, other events (warm-up), ``lagged`` frames."""

    tag: int
    latencies: array[int] = field(default_factory=lambda: array("q"))
    other: int = 0
    lagged: int = 0


def parse_chunks(rest: bytes, chunks: Iterable[tuple[int, bytes]], tally: Tally) -> bytes:
    """Add the frames completed by ``chunks`` (arrival ns, bytes) after ``rest`` to ``tally``.

    Returns the bytes after the last complete frame, to be prefixed to the next chunks. HTTP chunk-size
    lines between frames are skipped by the pattern; a chunk-size line never contains a blank line."""
    tag = tally.tag
    latencies = tally.latencies
    for arrived, data in chunks:
        buffer = rest + data if rest else data
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            rest = buffer
            continue
        done, rest = buffer[: cut + 2], buffer[cut + 2 :]
        for raw_tag, raw_time in FRAME.findall(done):
            if int(raw_tag) == tag:
                latencies.append(arrived - int(raw_time))
            else:
                tally.other += 1
        tally.lagged += done.count(LAGGED)
    return rest


class _Stream(asyncio.Protocol):
    """One SSE connection: checks the response head, then stores chunks with their arrival time."""

    def __init__(self, request: bytes, clock: _Clock) -> None:
        self._request = request
        self._clock = clock
        self._head = b""
        self.headed = False
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.times: list[int] = []
        self.chunks: list[bytes] = []
        self.rest = b""
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self._clock.last = now
        if self.headed:
            self.times.append(now)
            self.chunks.append(data)
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return
        self.headed = True
        ok = self._head.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 "))
        body = self._head[end + 4 :]
        self._head = b""
        if body:
            self.times.append(now)
            self.chunks.append(body)
        if not self.ready.done():
            self.ready.set_result(ok)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_result(False)

    def take(self) -> list[tuple[int, bytes]]:
        """The chunks stored so far, handed over (the stream keeps receiving into fresh lists)."""
        times, chunks = self.times, self.chunks
        self.times, self.chunks = [], []
        return list(zip(times, chunks, strict=True))


class _Clock:
    """The arrival time of the newest chunk on any stream: ``collect`` waits until it is old enough."""

    last = 0


class Client:
    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._clock = _Clock()
        self._streams: list[_Stream] = []

    async def _connect(self, request: bytes, gate: asyncio.Semaphore) -> _Stream | None:
        loop = asyncio.get_running_loop()
        stream = _Stream(request, self._clock)
        async with gate:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (self._host, self._port))
                await loop.create_connection(lambda: stream, sock=sock)
            except OSError:
                sock.close()
                return None
            ok = await stream.ready
        if not ok and stream.transport is not None:
            stream.transport.close()
        return stream if ok else None

    async def open(self, path: str, count: int) -> dict[str, object]:
        started = time.perf_counter()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\nAccept: text/event-stream\r\n\r\n"
        )
        gate = asyncio.Semaphore(_CONNECTING)
        opened = await asyncio.gather(*(self._connect(request.encode(), gate) for _ in range(count)))
        self._streams += [stream for stream in opened if stream is not None]
        failed = sum(stream is None for stream in opened)
        return {"opened": count - failed, "failed": failed, "seconds": time.perf_counter() - started}

    async def _quiet(self, quiet: float, deadline: float) -> None:
        while time.monotonic() < deadline:
            idle = (time.monotonic_ns() - self._clock.last) / 1e9
            if idle >= quiet:
                return
            await asyncio.sleep(min(quiet - idle, max(deadline - time.monotonic(), 0)) + 0.001)

    async def collect(self, tag: int, expected: int, quiet: float, within: float) -> Tally:
        """Parse until every stream holds ``expected`` tag-``tag`` events or ``within`` seconds passed."""
        tally = Tally(tag)
        deadline = time.monotonic() + within
        wanted = expected * len(self._streams)
        while True:
            await self._quiet(quiet, deadline)
            for stream in self._streams:
                stream.rest = parse_chunks(stream.rest, stream.take(), tally)
            if len(tally.latencies) >= wanted or time.monotonic() >= deadline:
                return tally
            await asyncio.sleep(0.05)

    def summary(self, tally: Tally, expected: int) -> dict[str, object]:
        return {
            "delivered": len(tally.latencies),
            "other": tally.other,
            "lagged": tally.lagged,
            "lost": sum(stream.lost for stream in self._streams),
            "complete": len(tally.latencies) >= expected * len(self._streams),
        }

    def close(self) -> dict[str, object]:
        closed = 0
        for stream in self._streams:
            if stream.transport is not None and not stream.lost:
                stream.transport.close()
                closed += 1
        self._streams = []
        return {"closed": closed}


def _write(path: str, latencies: array[int]) -> None:
    with open(path, "wb") as output:
        latencies.tofile(output)


async def _serve_commands(client: Client) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = orjson.loads(line)
        op = command["op"]
        if op == "open":
            answer = await client.open(command["path"], int(command["count"]))
        elif op == "collect":
            expected = int(command["expected"])
            tally = await client.collect(
                int(command["tag"]), expected, float(command["quiet"]), float(command["timeout"])
            )
            _write(command["file"], tally.latencies)
            answer = client.summary(tally, expected)
        elif op == "close":
            answer = client.close()
            await asyncio.sleep(0)  # let the transports send their resets
        elif op == "exit":
            client.close()
            return
        else:
            answer = {"error": f"unknown op {op!r}"}
        sys.stdout.write(orjson.dumps(answer).decode() + "\n")
        sys.stdout.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: _sse_load.py HOST PORT", file=sys.stderr)
        return 2
    raise_open_files_limit()
    uvloop.run(_serve_commands(Client(argv[0], int(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
