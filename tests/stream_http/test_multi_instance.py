"""Two real servers on one Redis event log (stream.md §1.10-§1.12): a subscriber on A sees what B
dispatches, an id from A resumes on B with nothing missed or doubled, and a live stream outlives a
Redis that hangs (no gap: the log survived) or restarts empty (a ``replay_window_exceeded`` frame).
Dispatches accepted while Redis is away are spooled and still reach the stream (features.md §11)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from tests.postgres.pg_support import connection, scratch_schema
from tests.store.redis_support import RedisServer, delete_prefix, private_redis, redis_url, unique_prefix
from tests.stream_http._client import subscribe
from tests.stream_http._server import StreamServer
from tests.stream_http.conftest import stream_server
from tidegate.stream.frames import PING, REPLAY_WINDOW_EXCEEDED


def action(n: int, namespace: str = "multi") -> dict[str, object]:
    return {
        "namespace": namespace,
        "tenant": "t-1",
        "provider": "log",
        "action_type": "send",
        "payload": {"n": n},
    }


@contextmanager
def instances(
    tmp_path: Path, url: str, prefix: str, count: int = 2, backend: str = "redis"
) -> Iterator[list[StreamServer]]:
    """``count`` servers sharing the event log at ``url`` under ``prefix`` (state stays local)."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                stream_server(
                    tmp_path / f"instance-{n}",
                    state={"key_prefix": prefix, "operation_timeout_seconds": 0.5},
                    stream={"backend": backend, "url": url},
                )
            )
            for n in range(count)
        ]


@pytest.fixture(params=["redis", "postgres"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[StreamServer, StreamServer]]:
    """Two servers on one shared log: a Redis key prefix, or a PostgreSQL schema of its own."""
    if request.param == "redis":
        url, prefix = redis_url(), unique_prefix()
        try:
            with instances(tmp_path, url, prefix) as (a, b):
                yield a, b
        finally:
            await delete_prefix(url, prefix)
        return
    async with scratch_schema() as (base, schema):
        async with connection(base) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
        with instances(tmp_path, url, "tidegate", backend="postgres") as (a, b):
            yield a, b


async def dispatch(client: httpx.AsyncClient, n: int) -> str:
    """Dispatch on the client's server; returns the event id the stream will carry (the audit id)."""
    response = await client.post("/v1/dispatch", json=action(n))
    assert response.status_code == 200, response.text
    return str(response.json()["action_id"])


def action_ids(datas: list[str]) -> list[str]:
    return [orjson.loads(data)["action_id"] for data in datas]


async def test_a_subscriber_on_one_instance_sees_dispatches_on_the_other_and_resumes_there(
    pair: tuple[StreamServer, StreamServer],
) -> None:
    a, b = pair
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=10) as on_b,
    ):
        async with subscribe(on_a, {"namespace": "multi"}) as stream_a:
            first = await dispatch(on_b, 1)
            [seen] = await stream_a.take(1, within=2.0)
            assert seen.event == "action_dispatched" and action_ids([seen.data]) == [first]
            resume_from = seen.id
        missed = [await dispatch(client, n) for n, client in enumerate((on_a, on_b, on_a), start=2)]
        headers = {"last-event-id": resume_from}
        async with subscribe(on_b, {"namespace": "multi"}, headers) as stream_b:
            replayed = await stream_b.take(3)
            assert action_ids([sse.data for sse in replayed]) == missed
            live = await dispatch(on_a, 5)
            [after] = await stream_b.take(1, within=2.0)
            assert action_ids([after.data]) == [live]  # once: no duplicate across the switch


async def raw_frames(response: httpx.Response) -> AsyncIterator[bytes]:
    """Whole frames of a raw SSE body, comments included."""
    buffer = bytearray()
    async for chunk in response.aiter_raw():
        buffer.extend(chunk)
        while b"\n\n" in buffer:
            end = buffer.index(b"\n\n") + 2
            yield bytes(buffer[:end])
            del buffer[:end]


async def next_events(frames: AsyncIterator[bytes], count: int, within: float) -> tuple[list[bytes], int]:
    """The next ``count`` non-comment frames, and how many ``: ping`` comments came before them."""
    events: list[bytes] = []
    pings = 0
    async with asyncio.timeout(within):
        while len(events) < count:
            frame = await anext(frames)
            if frame == PING:
                pings += 1
            else:
                events.append(frame)
    return events, pings


def action_id_of(frame: bytes) -> str:
    data = frame.split(b"\ndata: ", 1)[1].rstrip(b"\n")
    return str(orjson.loads(data)["action_id"])


async def test_a_live_stream_outlives_redis_hanging_and_restarting_empty(tmp_path: Path) -> None:
    async with private_redis() as redis:
        with instances(tmp_path, redis.url, unique_prefix(), count=1) as (server,):
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                params = {"namespace": "multi"}
                async with client.stream("GET", "/v1/stream", params=params) as response:
                    assert response.status_code == 200
                    frames = raw_frames(response)
                    await hang_then_resume(redis, client, frames)
                    await restart_empty(redis, client, frames)


async def hang_then_resume(
    redis: RedisServer, client: httpx.AsyncClient, frames: AsyncIterator[bytes]
) -> None:
    """Redis stops answering, then answers again with its data: no gap, nothing lost."""
    before = await dispatch(client, 1)
    events, _ = await next_events(frames, 1, within=2.0)
    assert action_id_of(events[0]) == before
    redis.pause()
    during = await dispatch(client, 2)  # the append times out: spooled, still a 200
    _, pings = await next_events_or_pings(frames, pings=1, within=5.0)
    assert pings >= 1  # the connection stays open and keep-alives go on
    redis.resume()
    events, _ = await next_events(frames, 1, within=10.0)
    assert [action_id_of(frame) for frame in events] == [during]  # no lagged frame: the log survived


async def restart_empty(redis: RedisServer, client: httpx.AsyncClient, frames: AsyncIterator[bytes]) -> None:
    """Redis restarts without persistence: the stream says so once, then carries on."""
    await redis.kill()
    during = await dispatch(client, 3)  # refused at once: spooled, still a 200
    await redis.start()
    events, _ = await next_events(frames, 2, within=10.0)
    assert events[0] == REPLAY_WINDOW_EXCEEDED
    assert action_id_of(events[1]) == during  # accepted while Redis was gone: not lost
    after = await dispatch(client, 4)
    events, _ = await next_events(frames, 1, within=5.0)
    assert [action_id_of(frame) for frame in events] == [after]


async def next_events_or_pings(
    frames: AsyncIterator[bytes], *, pings: int, within: float
) -> tuple[list[bytes], int]:
    """Read until ``pings`` keep-alive comments arrived; any event frame read meanwhile is returned."""
    events: list[bytes] = []
    seen = 0
    async with asyncio.timeout(within):
        while seen < pings:
            frame = await anext(frames)
            if frame == PING:
                seen += 1
            else:
                events.append(frame)
    return events, seen
