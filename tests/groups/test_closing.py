"""``DELETE /v1/groups/{key}`` loses nothing (api.md §8, features.md §13): when the flush's notification
cannot be dispatched the DELETE fails and the group keeps its events, and racing closes and flushes still
send each batch once. In-process: real rules, gateway, timers and store, a manual clock; the store fails
the notification's dedup claim (a backend outage) while ``failing`` is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.groups._harness import LEASE, RULES, START, Instance, alert, instance, of_type
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable, NotFound
from tidegate.groups import Flush, Group, GroupState
from tidegate.groups.closing import Closed
from tidegate.model.event import EventType
from tidegate.pipeline.result import DispatchResult
from tidegate.store.memory import MemoryStateStore
from tidegate.stream.log import LocalEventLog

#: The notifications pass a dedup rule, so their dispatch needs the state store (a claim) to go out.
FAILING_RULES = (
    RULES
    + """
  - name: dedup-notifications
    priority: 2
    condition: {field: action.action_type, eq: group_notification}
    action: {type: deduplicate, ttl_seconds: 60}
"""
)


class FailingStore(MemoryStateStore):
    """A memory store whose dedup claims fail (as a store that stopped answering) while ``failing``."""

    failing = False

    async def put_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if self.failing and ":dedup:" in key:
            raise BackendUnavailable("state store did not answer")
        return await super().put_if_absent(key, value, ttl)


@dataclass
class World:
    clock: ManualClock
    store: FailingStore
    events: LocalEventLog
    one: Instance


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock(START)
    store = FailingStore(clock)
    await store.open()
    events = LocalEventLog(10_000, 3600, clock.now)
    one = await instance(store, clock, events, rules=FAILING_RULES)
    yield World(clock, store, events, one)
    await one.groups.drain(1)
    await store.close()


async def three_alerts(world: World) -> str:
    for n in range(3):
        await world.one.dispatch(alert(n))
    [group] = await world.one.groups.list_all()
    return group.group_key


async def close(world: World, key: str) -> Closed:
    return await world.one.groups.close_group(key, lambda g: True)


def event_counts(world: World) -> list[object]:
    return [n.payload["event_count"] for n in world.one.notifications()]  # type: ignore[index,call-overload]


@pytest.mark.parametrize("waited", [0, 60], ids=["before-its-wait", "after-its-wait"])
async def test_a_delete_whose_notification_fails_keeps_the_group_pending_with_its_events(
    world: World, waited: int
) -> None:
    key = await three_alerts(world)
    before = await world.one.groups.get(key)
    world.clock.advance(waited)
    world.store.failing = True
    with pytest.raises(BackendUnavailable):
        await close(world, key)
    kept = await world.one.groups.get(key)
    assert kept is not None and before is not None
    assert (kept.group_id, kept.state, kept.batch) == (before.group_id, GroupState.PENDING, before.batch)
    assert (kept.flush_count, kept.undelivered) == (0, ())
    assert world.one.notifications() == []
    world.store.failing = False
    closed = await close(world, key)  # the DELETE, retried, flushes the same batch
    assert closed.event_count == 3 and closed.notification is not None
    assert closed.notification.outcome.category == "executed"
    assert event_counts(world) == [3]
    assert await world.one.groups.get(key) is None
    world.clock.advance(2 * LEASE)  # no timer of the failed attempt sends anything again
    await world.one.tick()
    assert event_counts(world) == [3]


@pytest.mark.parametrize("waited", [0, 60], ids=["before-its-wait", "after-its-wait"])
async def test_a_group_put_back_after_a_failed_delete_is_flushed_by_its_timer(
    world: World, waited: int
) -> None:
    key = await three_alerts(world)
    world.clock.advance(waited)
    world.store.failing = True
    await world.one.tick()  # after the wait: the timer's own flush fails too (its flush stays in the outbox)
    if waited:
        world.clock.advance(LEASE + 1)  # that sender's claim ran out: the DELETE sends the flush itself
    with pytest.raises(BackendUnavailable):
        await close(world, key)
    assert await world.one.groups.get(key) is not None
    world.store.failing = False
    for _ in range(4):  # past the group's wait, then past the fallback of any flush left in the outbox
        world.clock.advance(LEASE + 1)
        await world.one.tick()
    assert event_counts(world) == [3]


async def test_a_delete_waits_for_a_flush_another_sender_is_sending(world: World) -> None:
    key = await three_alerts(world)
    world.clock.advance(60)
    world.store.failing = True
    await world.one.tick()  # the timer flushed: the batch is in the outbox, its send failed
    [group] = await world.one.groups.list_all()
    assert group.state is GroupState.NOTIFIED and len(group.undelivered) == 1
    world.clock.advance(LEASE + 1)
    with pytest.raises(BackendUnavailable):  # the DELETE tries the flush itself; the store still fails
        await close(world, key)
    stored = await world.one.groups.get(key)
    assert stored is not None and len(stored.undelivered) == 1  # nothing dropped with the group
    world.store.failing = False
    world.clock.advance(LEASE + 1)
    closed = await close(world, key)
    assert (closed.event_count, closed.notification) == (0, None)  # a notified group is only closed
    assert event_counts(world) == [3]
    assert await world.one.groups.get(key) is None
    world.clock.advance(2 * LEASE)
    await world.one.tick()
    assert event_counts(world) == [3]


async def test_concurrent_deletes_send_the_batch_once(world: World) -> None:
    key = await three_alerts(world)
    answers = await asyncio.gather(close(world, key), close(world, key), return_exceptions=True)
    closed = [a for a in answers if isinstance(a, Closed)]
    assert all(isinstance(a, (Closed, NotFound)) for a in answers), answers
    assert sorted(c.event_count for c in closed) in ([3], [0, 3])
    assert event_counts(world) == [3]
    assert len(of_type(world.events.retained(), EventType.GROUP_FLUSHED)) == 1
    assert await world.one.groups.get(key) is None


async def test_a_delete_racing_the_timer_while_the_store_fails_loses_nothing(world: World) -> None:
    key = await three_alerts(world)
    world.clock.advance(60)
    world.store.failing = True
    answers = await asyncio.gather(close(world, key), world.one.tick(), return_exceptions=True)
    assert isinstance(answers[0], BackendUnavailable), answers
    assert await world.one.groups.get(key) is not None
    world.store.failing = False
    for _ in range(4):
        world.clock.advance(LEASE + 1)
        await world.one.tick()
    assert event_counts(world) == [3]


async def test_events_that_join_while_the_delete_sends_stay_in_the_group(world: World) -> None:
    key = await three_alerts(world)
    deliveries = world.one.groups._deliveries  # the send is where a late event can join
    notify = deliveries.notify

    async def joined_meanwhile(group: Group, flush: Flush) -> DispatchResult | None:
        await world.one.dispatch(alert(9))
        return await notify(group, flush)

    deliveries.notify = joined_meanwhile  # type: ignore[method-assign]
    closed = await close(world, key)
    deliveries.notify = notify  # type: ignore[method-assign]
    assert closed.event_count == 3
    kept = await world.one.groups.get(key)
    assert kept is not None and [m.action_id for m in kept.batch] == ["alert-9"]
    assert kept.state is GroupState.PENDING
    for _ in range(12):
        world.clock.advance(LEASE + 1)
        await world.one.tick()
    assert event_counts(world) == [3, 1]
