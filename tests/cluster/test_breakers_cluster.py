"""Two real servers on one Redis, and on one PostgreSQL, share every circuit breaker (features.md §10, §20):
failures counted on either instance open it for both, and a trip or reset on one applies to the other
before its response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tests.breakers.test_breakers_http import BREAKERS, Target, hook_action
from tests.cluster._cluster import Cluster, clients, cluster
from tests.helpers.server import ServerThread
from tidegate.clock import ManualClock


@pytest.fixture
def target() -> Iterator[Target]:
    remote = Target()
    server = ServerThread(Starlette(routes=[Route("/hook", remote.handle, methods=["POST"])]))
    remote.url = server.start() + "/hook"
    try:
        yield remote
    finally:
        server.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["redis", "postgres"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Cluster]:
    async with cluster(
        tmp_path,
        request.param,
        "rules: []\n",
        clock=clock,
        circuit_breaker=BREAKERS,
        executor={"max_retries": 0},
    ) as running:
        yield running


async def outcome(client: httpx.AsyncClient, target: Target) -> str:
    response = await client.post("/v1/dispatch", json=hook_action(target))
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


async def webhook_state(client: httpx.AsyncClient) -> tuple[str, int, bool]:
    entries = (await client.get("/admin/circuit-breakers")).json()["circuit_breakers"]
    [entry] = [e for e in entries if e["provider"] == "webhook"]
    return entry["state"], entry["consecutive_failures"], entry["forced"]


async def test_failures_on_both_instances_open_the_shared_breaker(
    pair: Cluster, target: Target, clock: ManualClock
) -> None:
    async with clients(pair.urls) as (a, b):
        assert await outcome(a, target) == "failed"
        assert await webhook_state(b) == ("closed", 1, False)
        assert await outcome(b, target) == "failed"  # the second failure, counted on the other instance
        assert await outcome(a, target) == "rerouted"
        assert await outcome(b, target) == "rerouted"
        assert target.received == 2
        clock.advance(60)
        target.status = 200
        assert await webhook_state(a) == ("half_open", 2, False)
        assert await outcome(b, target) == "executed"  # the probe; success_threshold 1 closes it
        assert await webhook_state(a) == ("closed", 0, False)


async def test_a_trip_and_a_reset_apply_to_the_other_instance_at_once(pair: Cluster, target: Target) -> None:
    target.status = 200
    async with clients(pair.urls) as (a, b):
        assert (await a.post("/admin/circuit-breakers/webhook/trip")).status_code == 200
        assert await webhook_state(b) == ("open", 0, True)
        assert await outcome(b, target) == "rerouted"
        assert (await b.post("/admin/circuit-breakers/webhook/reset")).status_code == 200
        assert await outcome(a, target) == "executed"
        assert target.received == 1
