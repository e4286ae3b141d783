"""A Python HTTP load generator, used only when ``wrk`` is not installed.

``python bench/_load.py URL CONNECTIONS SECONDS BODY`` keeps CONNECTIONS keep-alive connections busy with
one POST at a time for SECONDS, then prints one JSON object (requests, non_2xx, errors, seconds, p50_ms,
p99_ms). It is plain asyncio on uvloop, so on a small machine it can be the bottleneck: dispatch.py says
so next to its figures. It expects ``Content-Length`` responses (both benchmarked apps send one)."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson
import uvloop

from _stats import percentile

__all__ = ["Tally", "main", "run"]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    errors: int = 0


def _request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("response without Content-Length")


async def _connection(host: str, port: int, request: bytes, deadline: float, tally: Tally) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        tally.errors += 1
        return
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_content_length(head))
            tally.latencies.append(time.perf_counter() - started)
            if not b"200" <= head[9:12] < b"400":
                tally.non_2xx += 1
    except (OSError, ValueError, asyncio.IncompleteReadError):
        tally.errors += 1
    finally:
        writer.close()


async def run(url: str, connections: int, seconds: float, body: bytes) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request(host, port, parts.path or "/", body)
    tally = Tally()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_connection(host, port, request, deadline, tally) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(tally.latencies)
    return {
        "requests": len(ordered),
        "non_2xx": tally.non_2xx,
        "errors": tally.errors,
        "seconds": elapsed,
        "p50_ms": percentile(ordered, 50) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: _load.py URL CONNECTIONS SECONDS BODY", file=sys.stderr)
        return 2
    url, connections, seconds, body = argv[0], int(argv[1]), float(argv[2]), argv[3].encode()
    result = uvloop.run(run(url, connections, seconds, body))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
