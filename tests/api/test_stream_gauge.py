"""``tidegate_stream_subscribers`` counts every open SSE connection of the instance (api.md §2): the event
stream, a streamed dispatch and a chain run's event stream alike, each until its connection ends. Real
server on loopback; the remote endpoint holds requests back so streams stay open while the gauge is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.execution_stream._harness import (
    CHAIN_RULES,
    StepTarget,
    chain_sections,
    open_stream,
    pipeline_action,
    step_target,
)
from tests.helpers.server import running_server

GAUGE = "tidegate_stream_subscribers"
METRICS_KEYS = [
    "dispatched",
    "executed",
    "deduplicated",
    "suppressed",
    "rerouted",
    "throttled",
    "failed",
    "grouped",
    "pending_approval",
    "state_changed",
    "chain_started",
    "circuit_open",
    "dry_run",
]


@pytest.fixture
def target() -> Iterator[StepTarget]:
    with step_target() as running:
        yield running


@pytest.fixture
async def client(tmp_path: Path, target: StepTarget) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-chain.yaml").write_text(CHAIN_RULES)
    async with running_server(make_settings(tmp_path, **chain_sections(target.url))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
            yield http
        target.release_all()


async def gauge(client: httpx.AsyncClient) -> float:
    response = await client.get("/metrics/prometheus")
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert f"# TYPE {GAUGE} gauge" in lines
    [value] = [line.split(" ")[1] for line in lines if line.startswith(f"{GAUGE} ")]
    return float(value)


async def settles_at(client: httpx.AsyncClient, expected: float) -> None:
    """The server runs a stream's close hook after the client hung up: read until it has (10 s at most)."""
    for _ in range(500):
        if await gauge(client) == expected:
            return
        await asyncio.sleep(0.02)
    assert await gauge(client) == expected


async def test_every_sse_endpoint_is_counted_while_open(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    assert await gauge(client) == 0
    before = (await client.get("/metrics")).json()
    target.hold("a")  # the chain stays on its first step: its stream stays open
    started = await client.post("/v1/dispatch", json=pipeline_action())
    chain_id = started.json()["chain_id"]
    async with open_stream(client, f"/v1/executions/{chain_id}/events") as chain_stream:
        assert await gauge(client) == 1
        async with open_stream(client, "/v1/stream", params={"namespace": "elsewhere"}):
            assert await gauge(client) == 2
            target.hold("held")
            streamed = {
                "namespace": "flows",
                "tenant": "acme",
                "provider": "hook",
                "action_type": "single",
                "payload": {},
                "metadata": {"labels": {"chain_step": "held", "chain_id": "none"}},
            }
            async with open_stream(client, "/v1/dispatch/stream", method="POST", json=streamed) as dispatch:
                await target.arrived("held", "none")  # the provider call is under way: the stream is open
                assert await gauge(client) == 3
                target.release("held")
                frames = await dispatch.rest()
                assert frames[-1].event == "done"
            await settles_at(client, 2)  # a streamed dispatch that ended is no longer counted
        await settles_at(client, 1)
        target.release("a")
        assert (await chain_stream.rest())[-1].event == "done"
    await settles_at(client, 0)
    after = (await client.get("/metrics")).json()
    assert list(after) == METRICS_KEYS  # the gauge is Prometheus only: /metrics keeps the spec's keys
    assert after["dispatched"] - before["dispatched"] == 2  # the chain's start and the streamed dispatch
    assert after["executed"] - before["executed"] == 1


async def test_a_client_that_hangs_up_mid_dispatch_is_uncounted(
    client: httpx.AsyncClient, target: StepTarget
) -> None:
    target.hold("held")
    streamed = {
        "namespace": "flows",
        "tenant": "acme",
        "provider": "hook",
        "action_type": "single",
        "payload": {},
        "metadata": {"labels": {"chain_step": "held", "chain_id": "gone"}},
    }
    async with open_stream(client, "/v1/dispatch/stream", method="POST", json=streamed):
        await target.arrived("held", "gone")
        assert await gauge(client) == 1
    await settles_at(client, 0)
    target.release("held")
