"""Per-execution streams while the state store holding the history hangs (stream.md §2.1, §2.5), on a
real server over a private Redis: a new stream gets 503 ``backend_unavailable`` before any SSE byte; an
open stream keeps its heartbeats, and after recovery goes on with nothing missed; an outage longer than
the limit ends the stream with ``done`` and reason ``unavailable``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.execution_stream._harness import CHAIN_RULES, StepTarget, chain_sections, open_stream, step_target
from tests.execution_stream.test_execution_events import COMPLETED_RUN, check_done, start_chain
from tests.helpers.server import running_server
from tests.store.redis_support import RedisServer, private_redis
from tidegate.chains import stream as stream_module


@pytest.fixture
def target() -> Iterator[StepTarget]:
    with step_target() as running:
        yield running


@pytest.fixture
async def served(tmp_path: Path, target: StepTarget) -> AsyncIterator[tuple[RedisServer, httpx.AsyncClient]]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-chain.yaml").write_text(CHAIN_RULES)
    async with private_redis() as redis:
        state = {"backend": "redis", "url": redis.url, "operation_timeout_seconds": 0.5}
        settings = make_settings(
            tmp_path,
            state=state,
            **chain_sections(
                target.url,
                stream={"backend": "local", "keep_alive_seconds": 1},
                background={"poll_interval_seconds": 0.1, "lease_seconds": 5},
            ),
        )
        async with running_server(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            try:
                yield redis, client
            finally:
                redis.resume()
                target.release_all()


async def test_a_hung_store_refuses_new_streams_and_open_ones_ride_it_out(
    served: tuple[RedisServer, httpx.AsyncClient], target: StepTarget
) -> None:
    redis, client = served
    target.hold("b")
    chain_id = await start_chain(client)
    path = f"/v1/executions/{chain_id}/events"
    async with open_stream(client, path) as stream:
        head = await stream.events(5)
        await target.arrived("b", chain_id)
        redis.pause()
        async with asyncio.timeout(5):
            refused = await client.get(path)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "backend_unavailable" and refused.json()["retryable"] is True
        assert "text/event-stream" not in refused.headers["content-type"]
        for _ in range(2):  # the open stream stays open: heartbeats go on while the history is unreadable
            frame = await stream.frame(within=5)
            assert frame is not None and frame.raw == b": heartbeat"
        redis.resume()
        target.release("b")
        rest = await stream.rest(within=30)
    assert [f.event for f in (*head, *rest)] == [*COMPLETED_RUN, "done"]
    assert [int(f.id) for f in (*head, *rest) if f.id] == list(range(1, len(COMPLETED_RUN) + 1))
    check_done(rest[-1], chain_id, "completed", "terminal")


async def test_a_long_outage_ends_the_stream_as_unavailable(
    served: tuple[RedisServer, httpx.AsyncClient], target: StepTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "OUTAGE_SECONDS", 1.5)  # instead of 30 s
    redis, client = served
    target.hold("b")
    chain_id = await start_chain(client)
    async with open_stream(client, f"/v1/executions/{chain_id}/events") as stream:
        await stream.events(5)
        await target.arrived("b", chain_id)
        redis.pause()
        frames = await stream.rest(within=15)
    assert [f.event for f in frames] == ["done"]
    summary = check_done(frames[0], chain_id, "running", "unavailable")
    assert summary["current_step"] == "b"


async def test_a_store_blip_while_recording_a_step_does_not_run_it_again(
    served: tuple[RedisServer, httpx.AsyncClient], target: StepTarget
) -> None:
    """The provider answered while the store hung: the result is recorded once the store is back, and the
    step is not started a second time (no crash happened, so no at-least-once redo; features.md §16)."""
    redis, client = served
    target.hold("b")
    chain_id = await start_chain(client)
    await target.arrived("b", chain_id)
    redis.pause()
    target.release("b")  # step b's call returns now; writing its result fails until the store is back
    await asyncio.sleep(2.0)
    redis.resume()
    async with asyncio.timeout(20):
        while True:
            body = (await client.get(f"/v1/executions/{chain_id}/history")).json()
            if body.get("status") not in (None, "running"):
                break
            await asyncio.sleep(0.1)
    entries = body["events"]
    assert body["status"] == "completed", entries
    starts = [(e["step_name"], e["attempt"]) for e in entries if e["type"] == "step_start"]
    assert starts == [("a", 1), ("b", 1), ("c", 1)]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
