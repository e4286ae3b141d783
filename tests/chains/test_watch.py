"""``ExecutionWatch``: tickets taken before a read catch a change made before the wait, the event log
wakes streams for ``chain_*`` events only, and closing the watch (drain) releases every waiter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tidegate.chains.watch import ExecutionWatch
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.json import JsonValue
from tidegate.stream.emit import new_event
from tidegate.stream.log import LocalEventLog


async def test_a_notification_before_the_wait_is_not_lost() -> None:
    watch = ExecutionWatch()
    with watch.ticket("c-1") as ticket:
        watch.notify("c-1")  # between the history read and the wait
        assert await ticket.wait(5.0) is True
        assert await ticket.wait(0.01) is False  # consumed


async def test_notify_wakes_only_that_run() -> None:
    watch = ExecutionWatch()
    with watch.ticket("c-1") as one, watch.ticket("c-2") as two:
        waiter = asyncio.create_task(one.wait(5.0))
        await asyncio.sleep(0)
        watch.notify("c-2")
        watch.notify("c-1")
        assert await waiter is True
        assert await two.wait(0) is True
        assert await two.wait(0.01) is False


async def test_wait_of_the_seam_times_out_and_is_woken() -> None:
    watch = ExecutionWatch()
    assert await watch.wait("c-1", 0.01) is False
    waiter = asyncio.create_task(watch.wait("c-1", 5.0))
    await asyncio.sleep(0)
    watch.notify("c-1")
    assert await waiter is True


async def test_closed_tickets_are_forgotten() -> None:
    watch = ExecutionWatch()
    ticket = watch.ticket("c-1")
    ticket.close()
    ticket.close()
    watch.notify("c-1")
    assert watch._tickets == {}


async def test_close_releases_every_waiter_for_good() -> None:
    watch = ExecutionWatch()
    ticket = watch.ticket("c-1")
    waiter = asyncio.create_task(ticket.wait(30.0))
    await asyncio.sleep(0)
    watch.close()
    assert await waiter is True
    assert await ticket.wait(30.0) is True  # stays set: a drained stream never waits again
    assert await watch.ticket("c-2").wait(30.0) is True  # tickets taken after the close too
    assert watch.closed


_FIELDS: dict[EventType, dict[str, JsonValue]] = {
    EventType.GROUP_FLUSHED: {"group_id": "g", "event_count": 1},
    EventType.CHAIN_ADVANCED: {
        "chain_id": "",
        "chain_name": "n",
        "step_name": "s",
        "step_index": 0,
        "step_status": "started",
        "attempt": 1,
    },
    EventType.CHAIN_STEP_COMPLETED: {
        "chain_id": "",
        "step_name": "s",
        "step_index": 0,
        "success": True,
        "next_step": None,
    },
    EventType.CHAIN_COMPLETED: {"chain_id": "", "status": "completed", "execution_path": ["s"]},
}


def _event(kind: EventType, chain_id: str) -> StreamEvent:
    fields = dict(_FIELDS[kind])
    if "chain_id" in fields:
        fields["chain_id"] = chain_id
    return new_event(kind, namespace="ns", tenant="acme", fields=fields, now=datetime.now(UTC))


async def test_chain_events_in_the_log_wake_their_streams() -> None:
    log = LocalEventLog(100, 3600, lambda: datetime.now(UTC))
    watch = ExecutionWatch()
    log.add_listener(watch.on_log_entry, watch.notify_all)
    with watch.ticket("c-1") as ticket, watch.ticket("c-2") as other:
        await log.append([_event(EventType.GROUP_FLUSHED, "c-1")])
        assert await ticket.wait(0.01) is False
        for kind in (EventType.CHAIN_ADVANCED, EventType.CHAIN_STEP_COMPLETED, EventType.CHAIN_COMPLETED):
            await log.append([_event(kind, "c-1")])
            assert await ticket.wait(0.01) is True
        assert await other.wait(0.01) is False
        watch.notify_all()  # a gap in a shared log: every run may have changed
        assert await other.wait(0.01) is True
