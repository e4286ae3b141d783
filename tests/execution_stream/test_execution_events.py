"""``GET /v1/executions/{id}/events`` and ``GET /v1/chains/{id}/events`` on a real uvicorn (stream.md §2):
a three-step chain calling a local HTTP endpoint is streamed live step by step, then ``done``; a reconnect
with ``Last-Event-ID`` mid-chain misses and repeats nothing; a finished run replays in full; timeout and
cancel end the stream with ``done``; every error of the check order of §2.1; heartbeats; slots freed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.execution_stream._harness import (
    CHAIN_RULES,
    Frame,
    StepTarget,
    chain_sections,
    open_stream,
    pipeline_action,
    step_target,
)
from tests.helpers.server import ServerThread
from tests.stream_http._server import GRANTS_HEADER, StreamServer
from tidegate.api.app import create_app

#: Every entry of a three-step run that completes, in order (stream.md §2.3).
COMPLETED_RUN = [
    "initiated",
    "processing",
    "step_start",
    "step_complete",
    "step_start",
    "step_complete",
    "step_start",
    "step_complete",
    "completed",
]
SUMMARY_KEYS = [
    "chain_id",
    "execution_id",
    "chain_name",
    "namespace",
    "tenant",
    "status",
    "current_step",
    "current_step_index",
    "total_steps",
    "origin_action_id",
    "started_at",
    "updated_at",
    "completed_at",
    "reason",
]


@pytest.fixture(scope="module")
def target() -> Iterator[StepTarget]:
    with step_target() as running:
        yield running


def serve(home: Path, target: StepTarget, **extra: object) -> StreamServer:
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "10-chain.yaml").write_text(CHAIN_RULES)
    return StreamServer(make_settings(home, **chain_sections(target.url, **extra))).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, target: StepTarget) -> Iterator[StreamServer]:
    running = serve(
        tmp_path_factory.mktemp("execution-stream"), target, server={"max_sse_connections_per_tenant": 2}
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def client(server: StreamServer, target: StepTarget) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
        yield http
    target.release_all()
    await server.wait_for(server.idle, within=5.0)  # every stream of the test gave its slot back


async def start_chain(client: httpx.AsyncClient, tenant: str = "acme") -> str:
    response = await client.post("/v1/dispatch", json=pipeline_action(tenant))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "chain_started", body
    return str(body["chain_id"])


def check_entry(frame: Frame, chain_id: str, seq: int, kind: str) -> None:
    """The byte layout of §2.2: ``id``, ``event``, ``data`` in that order; id = seq, event = type."""
    assert [name for name, _ in frame.fields] == ["id", "event", "data"], frame.raw
    assert frame.id == str(seq) and frame.event == kind, frame.raw
    data = frame.data
    assert list(data)[:4] == ["execution_id", "seq", "timestamp", "type"]
    assert data["execution_id"] == chain_id and data["seq"] == seq and data["type"] == kind


def check_done(frame: Frame, chain_id: str, status: str, reason: str) -> dict[str, object]:
    assert [name for name, _ in frame.fields] == ["event", "data"], frame.raw  # no id line
    assert frame.event == "done"
    data = frame.data
    assert list(data) == SUMMARY_KEYS
    assert data["chain_id"] == data["execution_id"] == chain_id
    assert data["status"] == status and data["reason"] == reason
    return data


async def test_a_three_step_chain_is_streamed_live_then_done(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    target.hold("b")
    chain_id = await start_chain(client)
    async with open_stream(client, f"/v1/executions/{chain_id}/events") as stream:
        assert stream.response.headers["cache-control"] == "no-cache"
        assert stream.response.headers["x-accel-buffering"] == "no"
        early = await stream.events(5)
        for seq, (frame, kind) in enumerate(zip(early, COMPLETED_RUN, strict=False), start=1):
            check_entry(frame, chain_id, seq, kind)
        assert early[2].data["step_name"] == "a" and early[4].data["step_name"] == "b"
        await target.arrived("b", chain_id)
        target.release("b")  # step b was seen starting before it could end: the stream is live
        rest = await stream.rest()
    entries, done = rest[:-1], rest[-1]
    for seq, (frame, kind) in enumerate(zip(entries, COMPLETED_RUN[5:], strict=True), start=6):
        check_entry(frame, chain_id, seq, kind)
    assert [f.data.get("step_name") for f in entries[:-1]] == ["b", "c", "c"]
    assert entries[-1].data["execution_path"] == ["a", "b", "c"]
    summary = check_done(done, chain_id, "completed", "terminal")
    assert summary["current_step"] is None and summary["completed_at"] is not None
    assert summary["namespace"] == "flows" and summary["tenant"] == "acme"


async def test_the_chain_path_serves_the_same_stream(client: httpx.AsyncClient) -> None:
    chain_id = await start_chain(client)
    async with open_stream(client, f"/v1/chains/{chain_id}/events") as stream:
        frames = await stream.rest()
    assert [f.event for f in frames] == [*COMPLETED_RUN, "done"]
    check_done(frames[-1], chain_id, "completed", "terminal")


async def test_a_reconnect_with_last_event_id_mid_chain_misses_and_repeats_nothing(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    target.hold("b")
    chain_id = await start_chain(client)
    path = f"/v1/executions/{chain_id}/events"
    async with open_stream(client, path) as stream:
        first = await stream.events(4)  # up to step a's completion; then the client drops
    last = first[-1].id
    assert last == "4"
    await target.arrived("b", chain_id)  # entry 5 (step_start b) was appended while disconnected
    async with open_stream(client, path, headers={"Last-Event-ID": last}) as stream:
        [resumed] = await stream.events(1)
        check_entry(resumed, chain_id, 5, "step_start")
        target.release("b")
        rest = await stream.rest()
    seen = [int(f.id) for f in (*first, resumed, *rest[:-1]) if f.id is not None]
    assert seen == list(range(1, len(COMPLETED_RUN) + 1))
    check_done(rest[-1], chain_id, "completed", "terminal")


async def test_a_finished_run_replays_its_history_then_done(client: httpx.AsyncClient) -> None:
    chain_id = await start_chain(client)
    async with open_stream(client, f"/v1/executions/{chain_id}/events") as stream:
        await stream.rest()
    async with open_stream(client, f"/v1/executions/{chain_id}/events") as stream:  # after the end
        frames = await stream.rest()
    assert [f.event for f in frames] == [*COMPLETED_RUN, "done"]
    for seq, frame in enumerate(frames[:-1], start=1):
        check_entry(frame, chain_id, seq, COMPLETED_RUN[seq - 1])
    check_done(frames[-1], chain_id, "completed", "terminal")
    async with open_stream(
        client, f"/v1/executions/{chain_id}/events", headers={"Last-Event-ID": "7"}
    ) as stream:
        frames = await stream.rest()
    assert [f.id for f in frames] == ["8", "9", None]
    async with open_stream(
        client, f"/v1/executions/{chain_id}/events", headers={"Last-Event-ID": "99"}
    ) as stream:
        frames = await stream.rest()
    assert [f.event for f in frames] == ["done"]


async def test_a_client_that_reads_nothing_until_the_end_gets_every_entry(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    target.hold("a")
    chain_id = await start_chain(client)
    async with open_stream(client, f"/v1/executions/{chain_id}/events") as stream:
        target.release("a")
        history = await client.get(f"/v1/executions/{chain_id}/history")
        while history.json()["status"] == "running":
            history = await client.get(f"/v1/executions/{chain_id}/history")
        frames = await stream.rest()
    assert [f.event for f in frames] == [*COMPLETED_RUN, "done"]  # no lagged, no gap
    assert [f.data for f in frames[:-1]] == history.json()["events"]  # the same objects as the history


async def test_timeout_ends_with_the_running_summary(client: httpx.AsyncClient, target: StepTarget) -> None:
    target.hold("b")
    chain_id = await start_chain(client)
    async with open_stream(client, f"/v1/executions/{chain_id}/events", params={"timeout": "1.5"}) as stream:
        frames = await stream.rest()
    assert [f.event for f in frames] == [*COMPLETED_RUN[:5], "done"]
    summary = check_done(frames[-1], chain_id, "running", "timeout")
    assert summary["current_step"] == "b" and summary["current_step_index"] == 1
    assert summary["completed_at"] is None


async def test_heartbeats_keep_an_idle_stream_open(client: httpx.AsyncClient, target: StepTarget) -> None:
    target.hold("b")
    chain_id = await start_chain(client)
    async with open_stream(
        client, f"/v1/executions/{chain_id}/events", headers={"Last-Event-ID": "5"}
    ) as stream:
        frame = await stream.frame(within=5.0)  # keep_alive_seconds is 1
        assert frame is not None and frame.raw == b": heartbeat"


async def test_cancel_mid_chain_ends_with_cancelled_then_done(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    target.hold("b")
    chain_id = await start_chain(client)
    async with open_stream(client, f"/v1/executions/{chain_id}/events") as stream:
        await stream.events(5)
        await target.arrived("b", chain_id)
        cancelled = await client.post(f"/v1/chains/{chain_id}/cancel", json={"reason": "superseded"})
        assert cancelled.status_code == 200, cancelled.text
        frames = await stream.rest()
        target.release("b")  # the attempt in flight ends after the terminal entry: history only
    assert [f.event for f in frames] == ["cancelled", "done"]
    check_entry(frames[0], chain_id, 6, "cancelled")
    assert frames[0].data["reason"] == "superseded"
    check_done(frames[1], chain_id, "cancelled", "terminal")


async def test_errors_follow_the_check_order(client: httpx.AsyncClient) -> None:
    chain_id = await start_chain(client)
    path = f"/v1/executions/{chain_id}/events"
    unknown = "/v1/executions/019c3882-7e00-7f00-9b00-00000000dead/events"

    async def status(
        url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        response = await client.get(url, params=params, headers=headers)
        assert "text/event-stream" not in response.headers.get("content-type", "")  # no SSE byte
        return response.status_code, response.json()["code"]

    for bad in ("0", "3600.5", "abc", "nan", "inf", "-5", ""):
        assert await status(path, {"timeout": bad}) == (422, "validation_error"), bad
    assert await status(unknown, {"timeout": "0"}, headers={"Last-Event-ID": "x"}) == (
        422,
        "validation_error",
    )
    for bad in ("x", "-1", "1.5", "0x10", "+1"):
        assert await status(path, headers={"Last-Event-ID": bad}) == (400, "bad_request"), bad
    assert await status(path, {"last_event_id": "١"}) == (400, "bad_request")  # a non-ASCII digit
    assert await status(unknown, headers={"Last-Event-ID": "x"}) == (400, "bad_request")
    assert await status(unknown) == (404, "not_found")
    assert await status("/v1/chains/not-a-uuid/events") == (404, "not_found")
    assert await status(path, {"tenant": "other"}) == (404, "not_found")
    assert await status(path, {"namespace": "other"}) == (404, "not_found")
    assert await status(path, headers={GRANTS_HEADER: "beta"}) == (404, "not_found")  # not covered (G3)
    async with open_stream(client, path, params={"tenant": "acme", "namespace": "flows", "timeout": "3600"}):
        pass
    async with open_stream(client, path, headers={GRANTS_HEADER: "acme", "Last-Event-ID": "3"}):
        pass


async def test_connections_count_in_the_run_tenant_bucket_with_other_streams(
    client: httpx.AsyncClient, server: StreamServer, target: StepTarget
) -> None:
    target.hold("b")
    chain_id = await start_chain(client, tenant="crowded")
    path = f"/v1/executions/{chain_id}/events"
    async with (
        open_stream(client, "/v1/stream", params={"tenant": "crowded"}),
        open_stream(client, f"/v1/chains/{chain_id}/events"),
    ):
        assert server.services.connections.held("tenant:crowded") == 2
        response = await client.get(path)
        assert response.status_code == 429, response.text
        assert response.json()["code"] == "too_many_connections"
        assert response.headers["retry-after"] == "5"
    await server.wait_for(lambda: server.services.connections.held("tenant:crowded") == 0)
    async with open_stream(client, path, params={"timeout": "1"}) as stream:  # the slot came back
        assert server.services.connections.held("tenant:crowded") == 1
        await stream.rest()


async def test_streaming_disabled_is_503(tmp_path: Path, target: StepTarget) -> None:
    server = serve(tmp_path, target, stream={"enabled": False})
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/v1/executions/019c3882-7e00-7f00-9b00-00000000dead/events")
        assert response.status_code == 503
        assert response.json()["code"] == "streaming_disabled"
    finally:
        server.stop()


async def test_a_draining_server_ends_the_stream_without_done(tmp_path: Path, target: StepTarget) -> None:
    """Shutdown (SIGTERM's drain) completes the stream normally and without ``done`` (§0.7), so the
    client reconnects with ``Last-Event-ID``, while the run goes on."""
    target.hold("b")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-chain.yaml").write_text(CHAIN_RULES)
    server = ServerThread(create_app(make_settings(tmp_path, **chain_sections(target.url))))
    url = server.start()
    stopping: asyncio.Task[None] | None = None
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
            chain_id = await start_chain(client)
            async with open_stream(client, f"/v1/executions/{chain_id}/events") as stream:
                await stream.events(5)
                await target.arrived("b", chain_id)
                stopping = asyncio.create_task(asyncio.to_thread(server.stop))
                frames = await stream.rest()
                assert stream.ended
        assert frames == []
    finally:
        target.release("b")
        if stopping is None:
            server.stop()
        else:
            await stopping
