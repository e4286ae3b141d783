"""Two real servers on one Redis, and on one PostgreSQL (features.md §20): dedup claims, throttle
counters, rule toggles and SSE connection slots (stream.md §0.6) are counted once for the cluster."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.cluster._cluster import Cluster, clients, cluster
from tests.helpers.errors import assert_error
from tests.stream_http._client import subscribe
from tidegate.clock import ManualClock
from tidegate.stream.connections import Bucket
from tidegate.stream.shared_slots import StoreConnectionSlots

RULES = """\
rules:
  - name: once
    priority: 1
    condition: {field: action.action_type, eq: welcome}
    action: {type: deduplicate, ttl_seconds: 300}
  - name: three-per-minute
    priority: 2
    condition: {field: action.action_type, eq: digest}
    action: {type: throttle, max_count: 3, window_seconds: 60}
  - name: block-spam
    priority: 3
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
"""

#: 30 s into a 60 s window (Unix 1770474630), so every dispatch of a test falls in one throttle window.
START = datetime(2026, 2, 7, 14, 30, 30, tzinfo=UTC)
KEEP_ALIVE = 1


def action(action_type: str, **extra: object) -> dict[str, object]:
    return {
        "namespace": "notifications",
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": action_type,
        "payload": {},
        **extra,
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(params=["redis", "postgres"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Cluster]:
    async with cluster(
        tmp_path,
        request.param,
        RULES,
        clock=clock,
        rules={"sync_interval_seconds": 0.5},
        stream={"keep_alive_seconds": KEEP_ALIVE},
    ) as running:
        yield running


async def test_one_dedup_key_executes_once_across_instances(pair: Cluster) -> None:
    async with clients(pair.urls) as (a, b):
        body = action("welcome", dedup_key="user-42")
        answers = await asyncio.gather(*(client.post("/v1/dispatch", json=body) for client in (a, b) * 25))
    assert {answer.status_code for answer in answers} == {200}
    outcomes = Counter(answer.json()["outcome"] for answer in answers)
    assert outcomes == {"executed": 1, "deduplicated": 49}
    [winner] = [answer.json()["action_id"] for answer in answers if answer.json()["outcome"] == "executed"]
    losers = [answer.json() for answer in answers if answer.json()["outcome"] == "deduplicated"]
    assert {(body["dedup_key"], body["original_action_id"]) for body in losers} == {("user-42", winner)}


async def test_a_throttle_window_is_counted_once_across_instances(pair: Cluster) -> None:
    async with clients(pair.urls) as (a, b):
        answers = await asyncio.gather(
            *(client.post("/v1/dispatch", json=action("digest")) for client in (a, b) * 5)
        )
    assert {answer.status_code for answer in answers} == {200}
    assert Counter(answer.json()["outcome"] for answer in answers) == {"executed": 3, "throttled": 7}


async def test_a_rule_toggled_on_one_instance_applies_on_the_other(pair: Cluster) -> None:
    async with clients(pair.urls) as (a, b):
        assert (await b.post("/v1/dispatch", json=action("spam"))).json()["outcome"] == "suppressed"
        toggled = await a.put("/v1/rules/block-spam/enabled", json={"enabled": False})
        assert toggled.json() == {"name": "block-spam", "enabled": False}
        assert (await a.post("/v1/dispatch", json=action("spam"))).json()["outcome"] == "executed"
        await wait_until(lambda: rule_enabled(b, "block-spam"), False, within=3.0)  # sync every 0.5 s
        assert (await b.post("/v1/dispatch", json=action("spam"))).json()["outcome"] == "executed"


async def test_the_eleventh_stream_of_a_tenant_across_instances_gets_429(
    pair: Cluster, clock: ManualClock
) -> None:
    params = {"tenant": "crowded"}
    store = await pair.open_store(clock)
    observer = StoreConnectionSlots(store, clock, ttl=3 * KEEP_ALIVE)
    try:
        async with clients(pair.urls) as (a, b), AsyncExitStack() as streams:
            for client in (a, b) * 4:
                await streams.enter_async_context(subscribe(client, params))
            async with subscribe(a, params), subscribe(b, params):
                assert await observer.count("tenant:crowded") == 10
                for client in (a, b):
                    refused = await open_stream(client, params)
                    assert_error(refused, 429, "too_many_connections", retryable=True)
                    assert refused.headers["retry-after"] == "5"
                async with subscribe(b, {"tenant": "roomy"}):  # another bucket is not affected
                    pass
            # One stream left each instance: both slots are free for the cluster once each server has
            # noticed its client left (within 2 s, stream.md §0.5), not after they would have lapsed.
            await wait_until(lambda: observer.count("tenant:crowded"), 8, within=2.0)
            async with subscribe(b, params), subscribe(b, params):
                assert (await open_stream(a, params)).status_code == 429
    finally:
        await store.close()


async def test_slots_of_a_crashed_instance_lapse_after_three_keep_alives(
    pair: Cluster, clock: ManualClock
) -> None:
    store = await pair.open_store(clock)
    try:
        crashed = StoreConnectionSlots(store, clock, ttl=3 * KEEP_ALIVE)
        for _ in range(10):  # then it never renews nor releases them
            assert await crashed.acquire(Bucket("tenant:ghosted", 10)) is not None
        async with clients(pair.urls) as (a, b):
            params = {"tenant": "ghosted"}
            assert (await open_stream(b, params)).status_code == 429
            clock.advance(3 * KEEP_ALIVE)
            async with subscribe(a, params), subscribe(b, params):
                pass
    finally:
        await store.close()


async def open_stream(client: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    """The answer to a stream request, closed at once (a 200 body is never read to its end)."""
    async with client.stream("GET", "/v1/stream", params=params) as response:
        if response.status_code != 200:
            await response.aread()
        return response


async def rule_enabled(client: httpx.AsyncClient, name: str) -> bool:
    rules = (await client.get("/v1/rules")).json()["rules"]
    return bool(next(rule["enabled"] for rule in rules if rule["name"] == name))


async def wait_until(probe: object, expected: object, *, within: float) -> None:
    """Poll the coroutine function ``probe`` until it returns ``expected``; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while (value := await probe()) != expected:  # type: ignore[operator]
        assert time.monotonic() < deadline, f"still {value!r} after {within} s"
        await asyncio.sleep(0.05)
