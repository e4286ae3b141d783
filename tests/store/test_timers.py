"""Timers on every state-store backend: due work fires once, however many instances poll it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tidegate.clock import ManualClock
from tidegate.store.base import StateStore
from tidegate.workers.timers import Timers, member_of, parse_member

INDEX = "test-timers"


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.fired: list[tuple[str, datetime]] = []
        self._fail = fail_times

    async def __call__(self, entity_id: str, due_at: datetime) -> None:
        if self._fail:
            self._fail -= 1
            raise RuntimeError("handler failed")
        await asyncio.sleep(0)  # let racing instances interleave
        self.fired.append((entity_id, due_at))


def instances(store: StateStore, clock: ManualClock, handler: Recorder, count: int) -> list[Timers]:
    timers = [Timers(store, clock, owner=f"instance-{i}", lease_seconds=30) for i in range(count)]
    for timer in timers:
        timer.register(INDEX, handler)
    return timers


def test_member_round_trip() -> None:
    due = datetime(2026, 2, 7, 14, 30, 0, 123456, tzinfo=UTC)
    entity, when = parse_member(member_of("group|with|bars", due))
    assert entity == "group|with|bars"
    assert when == due


async def test_nothing_fires_before_it_is_due(store: StateStore, clock: ManualClock) -> None:
    handler = Recorder()
    [timers] = instances(store, clock, handler, 1)
    await timers.arm(INDEX, "g1", clock.now() + timedelta(seconds=10))
    await timers.tick()
    assert handler.fired == []
    clock.advance(10)
    await timers.tick()
    assert handler.fired == [("g1", clock.now())]


async def test_three_instances_fire_each_member_once(store: StateStore, clock: ManualClock) -> None:
    handler = Recorder()
    timers = instances(store, clock, handler, 3)
    due = clock.now() + timedelta(seconds=1)
    for n in range(20):
        await timers[0].arm(INDEX, f"entity-{n}", due)
    clock.advance(1)
    await asyncio.gather(*(t.tick() for t in timers))
    await asyncio.gather(*(t.tick() for t in timers))  # a second round finds nothing left
    assert sorted(entity for entity, _ in handler.fired) == sorted(f"entity-{n}" for n in range(20))
    assert await store.due(INDEX, clock.now()) == []


async def test_a_failed_handler_is_retried_after_its_lease(store: StateStore, clock: ManualClock) -> None:
    handler = Recorder(fail_times=1)
    [timers] = instances(store, clock, handler, 1)
    await timers.arm(INDEX, "g1", clock.now())
    await timers.tick()
    assert handler.fired == []
    await timers.tick()  # still leased: not retried at once
    assert handler.fired == []
    clock.advance(31)
    await timers.tick()
    assert [entity for entity, _ in handler.fired] == ["g1"]


async def test_a_moved_timer_leaves_a_stale_member_the_handler_sees(
    store: StateStore, clock: ManualClock
) -> None:
    handler = Recorder()
    [timers] = instances(store, clock, handler, 1)
    first = clock.now() + timedelta(seconds=5)
    second = clock.now() + timedelta(seconds=8)
    await timers.arm(INDEX, "g1", first)
    await timers.arm(INDEX, "g1", second)  # moved without disarming: both members exist
    clock.advance(8)
    await timers.tick()
    assert handler.fired == [("g1", first), ("g1", second)]  # handlers compare due_at with the entity's


async def test_disarm_removes_the_member(store: StateStore, clock: ManualClock) -> None:
    handler = Recorder()
    [timers] = instances(store, clock, handler, 1)
    due = clock.now()
    await timers.arm(INDEX, "g1", due)
    await timers.disarm(INDEX, "g1", due)
    await timers.tick()
    assert handler.fired == []


async def test_a_malformed_member_is_dropped(store: StateStore, clock: ManualClock) -> None:
    handler = Recorder()
    [timers] = instances(store, clock, handler, 1)
    await store.schedule(INDEX, "no-separator", clock.now())
    await timers.tick()
    assert handler.fired == []
    assert await store.due(INDEX, clock.now()) == []


def test_an_index_registers_once(store: StateStore, clock: ManualClock) -> None:
    [timers] = instances(store, clock, Recorder(), 1)
    with pytest.raises(ValueError, match="already registered"):
        timers.register(INDEX, Recorder())


async def test_fire_now_does_an_armed_members_work_once_before_its_due_time(
    store: StateStore, clock: ManualClock
) -> None:
    handler = Recorder()
    here, there = instances(store, clock, handler, 2)
    due = clock.now() + timedelta(seconds=60)
    await here.arm(INDEX, "g1", due)
    done: list[str] = []

    async def work() -> None:
        done.append("now")

    assert await here.fire_now(INDEX, "g1", due, work)
    assert not await there.fire_now(INDEX, "g1", due, work)  # claimed: done once cluster-wide
    clock.advance(60)
    await there.tick()
    assert done == ["now"] and handler.fired == []  # the member left with the work
    assert await store.due(INDEX, clock.now()) == []


async def test_fire_now_that_fails_leaves_the_member_to_its_due_time(
    store: StateStore, clock: ManualClock
) -> None:
    handler = Recorder()
    here, there = instances(store, clock, handler, 2)
    due = clock.now() + timedelta(seconds=60)
    await here.arm(INDEX, "g1", due)

    async def work() -> None:
        raise RuntimeError("the process went away")

    assert not await here.fire_now(INDEX, "g1", due, work)
    clock.advance(60)  # past the 30 s lease too
    await there.tick()
    assert handler.fired == [("g1", due)]
