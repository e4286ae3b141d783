"""``POST /v1/dispatch/stream?follow=true`` (stream.md §3.4) on a real uvicorn: after a ``chain_started``
outcome the chain's history entries follow (entry type as event name, the entry as data, no ids), live,
up to the terminal entry, then ``done`` with the ``/v1/dispatch`` body. Without ``follow``, for another
outcome, or when ``timeout`` runs out, the stream behaves as §3 says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from tests.execution_stream._harness import (
    Frame,
    RawStream,
    StepTarget,
    open_stream,
    pipeline_action,
    step_target,
)
from tests.execution_stream.test_execution_events import COMPLETED_RUN, serve
from tests.stream_http._server import StreamServer

ENVELOPE = ["type", "message", "timestamp", "action_id", "trace_id", "data"]


@pytest.fixture(scope="module")
def target() -> Iterator[StepTarget]:
    with step_target() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, target: StepTarget) -> Iterator[StreamServer]:
    running = serve(tmp_path_factory.mktemp("dispatch-follow"), target)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def client(server: StreamServer, target: StepTarget) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
        yield http
    target.release_all()


def stream_of(
    client: httpx.AsyncClient, params: dict[str, str], action: dict[str, object] | None = None
) -> AbstractAsyncContextManager[RawStream]:
    return open_stream(
        client, "/v1/dispatch/stream", method="POST", params=params, json=action or pipeline_action()
    )


def envelope_data(frame: Frame) -> dict[str, object]:
    """The ``data`` object inside a dispatch-stream envelope (§3.3)."""
    data = frame.data["data"]
    assert isinstance(data, dict)
    return data


def check_no_ids(frames: list[Frame]) -> None:
    for frame in frames:
        assert [name for name, _ in frame.fields] == ["event", "data"], frame.raw


async def test_follow_streams_the_started_chain_live_then_done(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    target.hold("b")
    async with stream_of(client, {"follow": "true"}) as stream:
        head = await stream.events(3 + 5)
        names = [f.event for f in head]
        assert names[:3] == ["dispatch_started", "rule_matched", "outcome"]
        outcome = head[2].data
        body = envelope_data(head[2])
        assert list(outcome) == ENVELOPE and body["outcome"] == "chain_started"
        chain_id = body["chain_id"]
        assert names[3:] == COMPLETED_RUN[:5]
        await target.arrived("b", str(chain_id))
        target.release("b")  # step b was streamed starting before it could end: live
        rest = await stream.rest()
    frames = [*head, *rest]
    check_no_ids(frames)
    assert [f.event for f in frames[3:]] == [*COMPLETED_RUN, "done"]
    entries = frames[3:-1]
    assert [f.data["seq"] for f in entries] == list(range(1, len(COMPLETED_RUN) + 1))
    assert all(f.data["execution_id"] == chain_id and f.data["type"] == f.event for f in entries)
    assert frames[-1].data == body  # done: the /v1/dispatch body, unwrapped


async def test_without_follow_the_stream_ends_at_the_outcome(client: httpx.AsyncClient) -> None:
    async with stream_of(client, {}) as stream:
        frames = await stream.rest()
    assert [f.event for f in frames] == ["dispatch_started", "rule_matched", "outcome", "done"]
    assert frames[-1].data["outcome"] == "chain_started"


async def test_follow_changes_nothing_for_other_outcomes(client: httpx.AsyncClient) -> None:
    action = {**pipeline_action(), "action_type": "plain"}
    async with stream_of(client, {"follow": "true"}, action) as stream:
        frames = await stream.rest()
    assert [f.event for f in frames] == ["dispatch_started", "attempt_started", "outcome", "done"]
    assert frames[-1].data["outcome"] == "executed"


async def test_follow_with_dry_run_follows_nothing(client: httpx.AsyncClient) -> None:
    async with stream_of(client, {"follow": "true", "dry_run": "true"}) as stream:
        frames = await stream.rest()
    assert [f.event for f in frames] == ["dispatch_started", "rule_matched", "outcome", "done"]


async def test_timeout_ends_the_following_with_done_and_no_terminal_entry(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    target.hold("b")
    async with stream_of(client, {"follow": "true", "timeout": "1.5"}) as stream:
        frames = await stream.rest()
    assert [f.event for f in frames] == [
        "dispatch_started",
        "rule_matched",
        "outcome",
        *COMPLETED_RUN[:5],
        "done",
    ]
    assert frames[-1].data["outcome"] == "chain_started"


async def test_bad_follow_or_timeout_is_422_before_the_stream(client: httpx.AsyncClient) -> None:
    for params in ({"follow": "maybe"}, {"follow": "true", "timeout": "0"}, {"timeout": "x"}):
        response = await client.post("/v1/dispatch/stream", params=params, json=pipeline_action())
        assert response.status_code == 422, (params, response.text)
        assert response.json()["code"] == "validation_error"


async def test_a_client_leaving_mid_chain_stops_the_following_not_the_chain(
    client: httpx.AsyncClient, server: StreamServer, target: StepTarget
) -> None:
    target.hold("b")
    async with stream_of(client, {"follow": "true"}) as stream:
        head = await stream.events(3 + 5)
    chain_id = str(envelope_data(head[2])["chain_id"])
    watch = server.services.execution_watch
    await server.wait_for(lambda: chain_id not in watch._tickets)  # the follower let go
    target.release("b")
    history = await client.get(f"/v1/executions/{chain_id}/history")
    while history.json()["status"] == "running":
        history = await client.get(f"/v1/executions/{chain_id}/history")
    assert history.json()["status"] == "completed"
