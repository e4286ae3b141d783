"""Grouping end to end in-process (features.md §13): real rules, gateway, timers and store, a manual clock;
the notification provider records what it is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.groups._harness import LEASE, RULES, START, Instance, alert, instance, kinds, of_type
from tidegate.audit.base import AuditQuery
from tidegate.audit.memory import MemoryAuditStore
from tidegate.clock import ManualClock
from tidegate.errors import NotFound, RateLimited
from tidegate.groups import GroupState
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import ANONYMOUS, SYSTEM
from tidegate.model.event import EventType
from tidegate.model.outcome import Grouped
from tidegate.model.time import format_ts
from tidegate.store.memory import MemoryStateStore
from tidegate.stream.log import LocalEventLog


@dataclass
class World:
    clock: ManualClock
    store: MemoryStateStore
    events: LocalEventLog
    one: Instance


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock(START)
    store = MemoryStateStore(clock)
    await store.open()
    events = LocalEventLog(10_000, 3600, clock.now)
    one = await instance(store, clock, events)
    yield World(clock, store, events, one)
    await one.groups.drain(1)
    await store.close()


def rules(**overrides: object) -> str:
    """``RULES`` with some group parameters replaced."""
    text = RULES
    for name, value in overrides.items():
        lines = [line for line in text.splitlines() if not line.strip().startswith(f"{name}:")]
        index = next(i for i, line in enumerate(lines) if "type: group" in line)
        lines.insert(index + 1, f"      {name}: {value}")
        text = "\n".join(lines) + "\n"
    return text


async def test_five_alerts_flush_once_into_one_notification(world: World) -> None:
    one, clock = world.one, world.clock
    outcomes = [(await one.dispatch(alert(n))).outcome for n in range(4)]
    assert all(isinstance(o, Grouped) for o in outcomes)
    grouped = [o for o in outcomes if isinstance(o, Grouped)]
    assert [o.group_size for o in grouped] == [1, 2, 3, 4]
    assert {o.group_key for o in grouped} == {grouped[0].group_key}
    assert {o.notify_at for o in grouped} == {START.replace(minute=31)}  # group_wait_seconds 60
    clock.advance(10)
    last = (await one.dispatch(alert(4))).outcome  # the fifth: the batch is full (max_group_size 5)
    assert isinstance(last, Grouped) and last.group_size == 5 and last.notify_at == clock.now()
    await one.groups.drain(10)
    [notification] = one.notifications()
    assert notification.provider == "pager" and notification.namespace == "alerts"
    assert notification.tenant == "acme"
    assert notification.metadata == {"group_id": last.group_id, "group_key": last.group_key}
    payload = notification.payload
    assert isinstance(payload, dict)
    assert payload["event_count"] == 5 and payload["repeat"] is False and payload["flush_count"] == 1
    assert [e["action_id"] for e in payload["events"]] == [f"alert-{n}" for n in range(5)]  # type: ignore[index]
    assert payload["text"] == "5 events grouped by metadata.cluster=eu-1, metadata.severity=high"
    clock.advance(60)  # the original notify_at passed: the group is notified, nothing more is sent
    await one.tick()
    assert len(one.notifications()) == 1


async def test_the_stream_orders_members_then_the_flush_then_the_notification(world: World) -> None:
    one, clock = world.one, world.clock
    for n in range(3):
        await one.dispatch(alert(n))
    clock.advance(59)
    await one.tick()
    assert one.notifications() == []  # never before notify_at
    clock.advance(1)
    await one.tick()
    members = [
        item
        for n in range(3)
        for item in (("group_event_added", f"alert-{n}"), ("action_dispatched", f"alert-{n}"))
    ]
    assert kinds(world.events.retained()) == [
        *members,
        ("group_flushed", None),
        ("action_dispatched", "notification"),
    ]
    added = of_type(world.events.retained(), EventType.GROUP_EVENT_ADDED)
    assert [e.fields["event_count"] for e in added] == [1, 2, 3]
    [flushed] = of_type(world.events.retained(), EventType.GROUP_FLUSHED)
    assert (flushed.namespace, flushed.tenant) == ("alerts", "acme")  # the group's real scope
    assert flushed.fields == {"group_id": added[0].fields["group_id"], "event_count": 3}
    assert flushed.action_id is None and flushed.action_type is None


async def test_concurrent_adds_are_all_announced_before_their_flush() -> None:
    """The audit commit of each member is slow, so a size flush races its members' record steps."""
    clock = ManualClock(START)
    store = MemoryStateStore(clock)
    events = LocalEventLog(10_000, 3600, clock.now)
    one = await instance(store, clock, events, audit=SlowAudit())
    results = await asyncio.gather(*(one.dispatch(alert(n)) for n in range(10)))
    await one.groups.drain(10)
    assert sorted(r.outcome.group_size for r in results if isinstance(r.outcome, Grouped)) == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]
    log = events.retained()
    assert len(of_type(log, EventType.GROUP_FLUSHED)) == 2
    notified: set[str] = set()
    for notification in one.notifications():
        payload = notification.payload
        assert isinstance(payload, dict)
        ids = [str(e["action_id"]) for e in payload["events"]]  # type: ignore[index,union-attr]
        assert len(ids) == 5
        notified.update(ids)
    assert notified == {f"alert-{n}" for n in range(10)}
    # Per flush: every member's group_event_added, then a group_flushed, then the notification's dispatch.
    added = {e.action_id: i for i, e in enumerate(log) if e.type is EventType.GROUP_EVENT_ADDED}
    flushes = [i for i, e in enumerate(log) if e.type is EventType.GROUP_FLUSHED]
    for notification in one.notifications():
        [sent] = [i for i, e in enumerate(log) if e.action_id == notification.id]
        members = notification.payload["events"]  # type: ignore[index,call-overload]
        last_member = max(added[m["action_id"]] for m in members)  # type: ignore[index,union-attr]
        assert any(last_member < i < sent for i in flushes)


class SlowAudit(MemoryAuditStore):
    """Early members commit slowest, so a later member that fills the batch is recorded first."""

    async def append(self, record: AuditRecord) -> None:
        if record.action_id.startswith("alert-"):
            await asyncio.sleep(0.005 * (10 - int(record.action_id.removeprefix("alert-"))))
        await super().append(record)


async def test_a_quiet_group_closes_one_interval_after_its_flush(world: World) -> None:
    one, clock = world.one, world.clock
    grouped = (await one.dispatch(alert(0))).outcome
    assert isinstance(grouped, Grouped)
    clock.advance(60)
    await one.tick()
    group = await one.groups.get(grouped.group_key)
    assert group is not None and group.state is GroupState.NOTIFIED and len(group.batch) == 1
    assert group.notify_at == clock.now() + timedelta(seconds=300)  # group_interval_seconds
    clock.advance(299)
    await one.tick()
    assert await one.groups.get(grouped.group_key) is not None
    clock.advance(1)
    await one.tick()
    assert await one.groups.get(grouped.group_key) is None  # closed: no event
    assert len(of_type(world.events.retained(), EventType.GROUP_FLUSHED)) == 1


async def test_events_after_a_flush_wait_for_the_group_interval(world: World) -> None:
    one, clock = world.one, world.clock
    await one.dispatch(alert(0))
    clock.advance(60)
    await one.tick()  # flushed at +60; the next flush no sooner than +360
    clock.advance(100)
    later = (await one.dispatch(alert(1))).outcome
    assert isinstance(later, Grouped)
    assert later.group_size == 1 and later.notify_at == START.replace(minute=36)
    clock.set(START.replace(minute=36))
    await one.tick()
    second = one.notifications()[-1].payload
    assert isinstance(second, dict)
    assert second["flush_count"] == 2 and second["event_count"] == 1
    assert [e["action_id"] for e in second["events"]] == ["alert-1"]  # type: ignore[index,union-attr]


async def test_a_persistent_group_reminds_three_times_then_closes() -> None:
    clock = ManualClock(START)
    store = MemoryStateStore(clock)
    events = LocalEventLog(10_000, 3600, clock.now)
    one = await instance(store, clock, events, rules=rules(repeat_interval_seconds=600))
    grouped = (await one.dispatch(alert(0))).outcome
    assert isinstance(grouped, Grouped)
    clock.advance(60)
    await one.tick()
    for _ in range(4):
        clock.advance(600)
        await one.tick()
    payloads = [n.payload for n in one.notifications()]
    assert [(p["repeat"], p["flush_count"]) for p in payloads] == [  # type: ignore[index,call-overload]
        (False, 1),
        (True, 2),
        (True, 3),
        (True, 4),
    ]
    assert len(of_type(events.retained(), EventType.GROUP_FLUSHED)) == 4
    assert await one.groups.get(grouped.group_key) is None


async def test_a_manual_flush_sends_the_pending_batch_and_closes(world: World) -> None:
    one = world.one
    for n in range(3):
        await one.dispatch(alert(n))
    [group] = await one.groups.list_all()
    closed = await one.groups.close_group(group.group_key, lambda g: True)
    assert closed.event_count == 3 and closed.notification is not None
    assert closed.notification.outcome.category == "executed"
    assert await one.groups.get(group.group_key) is None
    assert kinds(world.events.retained())[-2:] == [
        ("group_flushed", None),
        ("action_dispatched", "notification"),
    ]
    with pytest.raises(NotFound, match=f"group not found: {group.group_key}"):  # a later DELETE is 404
        await one.groups.close_group(group.group_key, lambda g: True)
    world.clock.advance(60)
    await one.tick()  # the timer finds no group
    assert len(one.notifications()) == 1


async def test_a_manual_flush_of_a_notified_group_only_closes_it(world: World) -> None:
    one, clock = world.one, world.clock
    await one.dispatch(alert(0))
    clock.advance(60)
    await one.tick()
    [group] = await one.groups.list_all()
    closed = await one.groups.close_group(group.group_key, lambda g: True)
    assert closed.event_count == 0 and closed.notification is None
    assert len(one.notifications()) == 1


async def test_a_manual_flush_racing_the_timer_flushes_once(world: World) -> None:
    one, clock = world.one, world.clock
    for n in range(3):
        await one.dispatch(alert(n))
    [group] = await one.groups.list_all()
    clock.advance(60)
    closed, _ = await asyncio.gather(
        one.groups.close_group(group.group_key, lambda g: True), one.timers.tick()
    )
    await one.groups.drain(10)
    [notification] = one.notifications()
    assert notification.payload["event_count"] == 3  # type: ignore[index,call-overload]
    assert closed.event_count in (0, 3)
    assert len(of_type(world.events.retained(), EventType.GROUP_FLUSHED)) == 1


async def test_a_group_outside_the_callers_view_is_not_found(world: World) -> None:
    await world.one.dispatch(alert(0))
    [group] = await world.one.groups.list_all()
    with pytest.raises(NotFound, match=f"group not found: {group.group_key}"):
        await world.one.groups.close_group(group.group_key, lambda g: False)
    assert await world.one.groups.get(group.group_key) is not None


async def test_groups_are_per_label_values_tenant_and_rule(world: World) -> None:
    one = world.one
    keys = set()
    for action in (alert(0), alert(1, cluster="us-1"), alert(2, tenant="other"), alert(3, severity="low")):
        outcome = (await one.dispatch(action)).outcome
        assert isinstance(outcome, Grouped) and outcome.group_size == 1
        keys.add(outcome.group_key)
    assert len(keys) == 4 and len(await one.groups.list_all()) == 4


async def test_a_flush_whose_sender_died_is_sent_by_another_instance_after_the_lease(world: World) -> None:
    clock, store, events = world.clock, world.store, world.events
    doomed = await instance(store, clock, events, owner="doomed")
    survivor = await instance(store, clock, events, owner="survivor")

    async def dies(*_: object) -> bool:
        return False

    doomed.timers.fire_now = dies  # type: ignore[method-assign]  # the process dies before sending
    for n in range(5):
        await doomed.dispatch(alert(n))  # the fifth fills the batch: flushed in the dispatch's own write
    await doomed.groups.drain(10)
    assert doomed.notifications() == []
    [group] = await survivor.groups.list_all()
    assert group.state is GroupState.NOTIFIED and len(group.undelivered) == 1
    await survivor.tick()
    assert survivor.notifications() == []  # not before the fallback time
    clock.advance(LEASE + 1)
    await survivor.tick()
    [notification] = survivor.notifications()
    assert notification.payload["event_count"] == 5  # type: ignore[index,call-overload]
    stored = await survivor.groups.get(group.group_key)
    assert stored is not None and stored.undelivered == ()
    clock.advance(LEASE + 1)
    await survivor.tick()
    await doomed.tick()
    assert len(survivor.notifications()) + len(doomed.notifications()) == 1


async def test_the_notification_is_audited_as_a_system_dispatch(world: World) -> None:
    one = world.one
    for n in range(5):
        await one.dispatch(alert(n))
    await one.groups.drain(10)
    [record] = (await one.audit.query(AuditQuery(action_type="group_notification"))).records
    assert (record.caller_id, record.auth_method) == ("system", "system")
    assert (record.verdict, record.outcome, record.provider) == ("allow", "executed", "pager")
    members = (await one.audit.query(AuditQuery(action_type="cluster_cpu"))).records
    assert {(r.verdict, r.outcome) for r in members} == {("group", "grouped")}
    notify_ats = sorted(str(r.outcome_details["notify_at"]) for r in members)
    assert notify_ats == [format_ts(START)] + [format_ts(START + timedelta(seconds=60))] * 4


async def test_a_group_rule_matching_its_own_notification_does_not_loop(world: World) -> None:
    clock, store, events = world.clock, world.store, world.events
    greedy = rules().replace(
        "condition: {field: action.action_type, eq: cluster_cpu}",
        "condition: {field: action.namespace, eq: alerts}",
    )
    one = await instance(store, clock, events, rules=greedy, owner="greedy")
    for n in range(5):
        await one.dispatch(alert(n))
    await one.groups.drain(10)
    [_] = one.notifications()  # executed as allow, not grouped again
    assert len(await one.groups.list_all()) == 1


async def test_dry_run_changes_no_group(world: World) -> None:
    result = await world.one.gateway.dispatch(alert(0), ANONYMOUS, dry_run=True)
    assert result.body()["verdict"] == "group" and result.body()["would_be_provider"] == "pager"
    assert await world.one.groups.list_all() == []
    assert world.events.retained() == []


async def test_notifications_enter_past_the_in_flight_cap(world: World) -> None:
    """Internal dispatches enter the pipeline at step 5, after the cap (features.md §1)."""
    capped = await instance(world.store, world.clock, world.events, owner="capped", max_in_flight=0)
    with pytest.raises(RateLimited):
        await capped.dispatch(alert(0))
    notification = alert(1).replace(action_type="group_notification", provider="pager")
    result = await capped.gateway.dispatch(notification, SYSTEM, internal=True)
    assert result.outcome.category == "executed"
