"""A timer armed on a worker instance fires at its due time in-process, without waiting for a poll."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tidegate.clock import ManualClock, SystemClock
from tidegate.store.memory import MemoryStateStore
from tidegate.workers.timers import Timers

INDEX = "wake-test"


async def test_an_armed_timer_fires_at_its_due_time_without_a_poll() -> None:
    clock = SystemClock()
    store = MemoryStateStore(clock)
    await store.open()
    fired = asyncio.Event()
    seen: list[str] = []

    async def handler(entity_id: str, due_at: datetime) -> None:
        seen.append(entity_id)
        fired.set()

    timers = Timers(store, clock, owner="a", wake=True)
    timers.register(INDEX, handler)
    due = clock.now() + timedelta(seconds=0.2)
    await timers.arm(INDEX, "g1", due)
    await asyncio.wait_for(fired.wait(), timeout=5)  # no tick() was called
    assert clock.now() >= due
    assert seen == ["g1"]
    await asyncio.sleep(0)
    assert await store.due(INDEX, clock.now()) == []  # fired once, unscheduled
    await timers.tick()
    assert seen == ["g1"]
    timers.close()
    await store.close()


async def test_a_disarmed_or_closed_timer_does_not_wake() -> None:
    clock = SystemClock()
    store = MemoryStateStore(clock)
    await store.open()
    seen: list[str] = []

    async def handler(entity_id: str, due_at: datetime) -> None:
        seen.append(entity_id)

    timers = Timers(store, clock, owner="a", wake=True)
    timers.register(INDEX, handler)
    due = clock.now() + timedelta(seconds=0.05)
    await timers.arm(INDEX, "disarmed", due)
    await timers.disarm(INDEX, "disarmed", due)
    await timers.arm(INDEX, "closed", due)
    timers.close()
    await asyncio.sleep(0.2)
    assert seen == []
    await store.close()


async def test_a_wake_never_fires_before_the_clock_says_it_is_due() -> None:
    clock = ManualClock()
    store = MemoryStateStore(clock)
    await store.open()
    seen: list[str] = []

    async def handler(entity_id: str, due_at: datetime) -> None:
        seen.append(entity_id)

    timers = Timers(store, clock, owner="a", wake=True)
    timers.register(INDEX, handler)
    await timers.arm(INDEX, "g1", clock.now() + timedelta(seconds=0.05))
    await asyncio.sleep(0.2)  # the wall clock passed the due time; the manual clock did not
    assert seen == []
    clock.advance(1)
    await timers.tick()
    assert seen == ["g1"]
    timers.close()
    await store.close()
