"""Three instances on one store (features.md §13, §19, §20): each group flushes exactly once, however the
actions and the timer polls are spread over the instances. Redis and PostgreSQL with a client per
instance, as separate processes have; SQLite with the one store its single process has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.cluster._cluster import Cluster, shared_state
from tests.groups._harness import START, Instance, alert, instance, of_type
from tidegate.clock import ManualClock
from tidegate.model.event import EventType
from tidegate.model.outcome import Grouped
from tidegate.store.base import StateStore
from tidegate.store.sqlite import SqliteStateStore
from tidegate.stream.log import LocalEventLog

BACKENDS = ["sqlite", "redis", "postgres"]


@asynccontextmanager
async def stores(backend: str, clock: ManualClock, directory: Path) -> AsyncIterator[list[StateStore]]:
    """One store per instance (SQLite: the same one three times)."""
    if backend == "sqlite":
        sqlite = SqliteStateStore(directory / "state.db", clock, operation_timeout=5.0)
        await sqlite.open()
        try:
            yield [sqlite] * 3
        finally:
            await sqlite.close()
        return
    async with shared_state(backend) as state:
        opened = [await Cluster([], state).open_store(clock) for _ in range(3)]
        try:
            yield opened
        finally:
            for store in opened:
                await store.close()


@pytest.fixture(params=BACKENDS)
async def three(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[list[Instance], ManualClock, LocalEventLog]]:
    clock = ManualClock(START)
    events = LocalEventLog(10_000, 3600, clock.now)
    async with stores(request.param, clock, tmp_path) as opened:
        instances = [await instance(store, clock, events, owner=f"i-{n}") for n, store in enumerate(opened)]
        yield instances, clock, events
        for one in instances:
            await one.groups.drain(5)


def notifications(instances: list[Instance]) -> list[list[str]]:
    """The action ids each notification carried, over every instance."""
    carried = []
    for one in instances:
        for action in one.notifications():
            payload = action.payload
            assert isinstance(payload, dict) and isinstance(payload["events"], list)
            carried.append([str(e["action_id"]) for e in payload["events"] if isinstance(e, dict)])
    return carried


@pytest.mark.timeout(60)
async def test_three_instances_flush_a_group_exactly_once(
    three: tuple[list[Instance], ManualClock, LocalEventLog],
) -> None:
    instances, clock, events = three
    for n in range(4):
        outcome = (await instances[n % 3].dispatch(alert(n))).outcome
        assert isinstance(outcome, Grouped) and outcome.group_size == n + 1
    clock.advance(60)
    for _ in range(3):  # every instance polls, at the same time, three times
        await asyncio.gather(*(one.timers.tick() for one in instances))
        await asyncio.gather(*(one.groups.drain(10) for one in instances))
    assert notifications(instances) == [[f"alert-{n}" for n in range(4)]]
    assert len(of_type(events.retained(), EventType.GROUP_FLUSHED)) == 1
    clock.advance(300)  # the quiet group closes, once, sending nothing
    await asyncio.gather(*(one.tick() for one in instances))
    assert await instances[0].groups.list_all() == []
    assert len(notifications(instances)) == 1


@pytest.mark.timeout(60)
async def test_concurrent_adds_over_three_instances_fill_each_batch_once(
    three: tuple[list[Instance], ManualClock, LocalEventLog],
) -> None:
    instances, _, events = three
    results = await asyncio.gather(*(instances[n % 3].dispatch(alert(n)) for n in range(15)))
    sizes = sorted(r.outcome.group_size for r in results if isinstance(r.outcome, Grouped))
    assert sizes == [size for size in range(1, 6) for _ in range(3)]  # every add landed once
    await asyncio.gather(*(one.groups.drain(10) for one in instances))
    carried = notifications(instances)
    assert [len(ids) for ids in carried] == [5, 5, 5]  # max_group_size 5: three full batches
    assert sorted(i for ids in carried for i in ids) == sorted(f"alert-{n}" for n in range(15))
    assert len(of_type(events.retained(), EventType.GROUP_FLUSHED)) == 3
