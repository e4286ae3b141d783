"""Cluster-wide SSE connection slots (stream.md §0.6) on every StateStore backend: two slot counters on
one store stand for two instances; the shared ManualClock drives lapsing without sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.store.store_backends import BACKENDS, build_store
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.time import to_micros
from tidegate.store import keys
from tidegate.store.base import StateStore
from tidegate.store.memory import MemoryStateStore
from tidegate.stream.connections import Bucket, LocalConnectionSlots
from tidegate.stream.shared_slots import StoreConnectionSlots, connection_slots_for, live_members

KEEP_ALIVE = 15.0
TTL = 3 * KEEP_ALIVE
CROWDED = Bucket("tenant:crowded", 10)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[StateStore]:
    opened = await build_store(request.param, clock, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


def instances(store: StateStore, clock: ManualClock) -> tuple[StoreConnectionSlots, StoreConnectionSlots]:
    return (
        StoreConnectionSlots(store, clock, ttl=TTL, instance="a"),
        StoreConnectionSlots(store, clock, ttl=TTL, instance="b"),
    )


async def fill(slots: StoreConnectionSlots, bucket: Bucket, count: int) -> None:
    for _ in range(count):
        assert await slots.acquire(bucket) is not None


async def test_the_limit_counts_connections_on_every_instance(store: StateStore, clock: ManualClock) -> None:
    a, b = instances(store, clock)
    await fill(a, CROWDED, 4)
    await fill(b, CROWDED, 6)
    assert await a.acquire(CROWDED) is None
    assert await b.acquire(CROWDED) is None
    assert await b.acquire(Bucket("tenant:roomy", 10)) is not None  # another bucket is not affected
    assert (a.held(CROWDED.key), b.held(CROWDED.key), await a.count(CROWDED.key)) == (4, 6, 10)


async def test_racing_acquires_on_two_instances_never_exceed_the_limit(
    store: StateStore, clock: ManualClock
) -> None:
    a, b = instances(store, clock)
    results = await asyncio.gather(*(slots.acquire(CROWDED) for slots in (a, b) * 20))
    assert sum(slot is not None for slot in results) == 10
    assert await a.count(CROWDED.key) == 10


async def test_release_frees_the_slot_for_every_instance_at_once(
    store: StateStore, clock: ManualClock
) -> None:
    a, b = instances(store, clock)
    await fill(b, CROWDED, 9)
    slot = await a.acquire(CROWDED)
    assert slot is not None and await b.acquire(CROWDED) is None
    await a.release(slot)
    await a.release(slot)  # a second release is a no-op
    assert (a.held(CROWDED.key), a.total, await a.count(CROWDED.key)) == (0, 0, 9)
    assert await b.acquire(CROWDED) is not None
    assert await b.acquire(CROWDED) is None


async def test_a_crashed_instance_s_slots_lapse_after_three_missed_renewals(
    store: StateStore, clock: ManualClock
) -> None:
    crashed, alive = instances(store, clock)
    await fill(crashed, CROWDED, 5)
    await fill(alive, CROWDED, 5)
    for step in (KEEP_ALIVE, KEEP_ALIVE, KEEP_ALIVE - 0.001):  # only the live instance renews
        clock.advance(step)
        await alive.renew()
    assert await alive.acquire(CROWDED) is None  # just short of three missed renewals: still held
    clock.advance(0.001)
    assert await alive.count(CROWDED.key) == 5
    await fill(alive, CROWDED, 5)
    assert await alive.acquire(CROWDED) is None


async def test_close_gives_back_every_slot_of_the_process(store: StateStore, clock: ManualClock) -> None:
    a, b = instances(store, clock)
    held = [await a.acquire(CROWDED) for _ in range(3)]
    await fill(b, CROWDED, 7)
    await a.close()
    assert (a.total, await b.count(CROWDED.key)) == (0, 7)
    assert held[0] is not None
    await a.release(held[0])  # a stream ending after shutdown releases nothing twice
    assert await b.count(CROWDED.key) == 7


async def test_renewal_writes_back_slots_that_lapsed_during_an_outage(
    store: StateStore, clock: ManualClock
) -> None:
    a, _ = instances(store, clock)
    await fill(a, CROWDED, 2)
    await store.delete(keys.connection_slots(CROWDED.key))  # as if Redis restarted empty
    await a.renew()
    assert await a.count(CROWDED.key) == 2


async def test_renewal_drops_a_slot_whose_acquire_never_completed(
    store: StateStore, clock: ManualClock
) -> None:
    a, b = instances(store, clock)
    await fill(a, CROWDED, 1)
    await fill(b, CROWDED, 1)
    key = keys.connection_slots(CROWDED.key)
    current = await store.get_versioned(key)
    assert current is not None
    members = orjson.loads(current.value)
    members["a/999"] = to_micros(clock.now()) + 10_000_000  # written, but its connection never opened
    assert await store.compare_and_set(key, current.version, orjson.dumps(members), TTL)
    assert await a.count(CROWDED.key) == 3
    await a.renew()
    assert await a.count(CROWDED.key) == 2


async def test_an_unlimited_bucket_holds_nothing_in_the_store(store: StateStore, clock: ManualClock) -> None:
    a, _ = instances(store, clock)
    unlimited = Bucket("tenant:open", 0)
    slots = [await a.acquire(unlimited) for _ in range(25)]
    assert a.held(unlimited.key) == 25
    assert await store.get(keys.connection_slots(unlimited.key)) is None
    for slot in slots:
        assert slot is not None
        await a.release(slot)
    assert a.total == 0


async def test_a_store_that_does_not_answer_refuses_acquire_and_never_fails_release(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStateStore(clock)
    slots = StoreConnectionSlots(store, clock, ttl=TTL)
    slot = await slots.acquire(CROWDED)
    assert slot is not None
    await store.close()
    with pytest.raises(BackendUnavailable):
        await slots.acquire(CROWDED)
    await slots.renew()  # logged, not raised: the loop keeps its interval
    assert "renewal failed for 1 of 1 buckets" in caplog.text
    await slots.release(slot)
    assert slots.total == 0


def test_live_members_ignores_lapsed_and_unreadable_values() -> None:
    assert live_members(b'{"a/1":10,"a/2":20,"b/1":"x"}', 10) == {"a/2": 20}
    assert live_members(b"[1]", 0) == {}
    assert live_members(b"not json", 0) == {}
    assert live_members(None, 0) == {}


def test_shared_state_backends_count_the_cluster(clock: ManualClock) -> None:
    store = MemoryStateStore(clock)
    for backend in ("redis", "postgres"):
        assert isinstance(connection_slots_for(backend, store, clock, 15), StoreConnectionSlots)
    for backend in ("memory", "sqlite"):
        assert isinstance(connection_slots_for(backend, store, clock, 15), LocalConnectionSlots)
