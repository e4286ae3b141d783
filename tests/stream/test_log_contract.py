"""The EventLog contract, on the local log and on the shared Redis and PostgreSQL logs (real servers).

Append order, replay reads (found and not found, case-insensitive ids, cursors), retention by count and
by age, listeners that see every entry once in order, and, for shared logs, two logs on one backend
behaving like two processes: what one appends reaches the other's listeners within 1 s, and an id
from one resumes on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.stream._events import T0, make_event
from tests.stream.log_backends import LOG_BACKENDS, SHARED_BACKENDS, LogSite, Seen, eventually, trim
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.event import StreamEvent
from tidegate.stream.log import EventLog, ReplayPage


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=LOG_BACKENDS)
async def site(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[LogSite]:
    opened = LogSite(request.param, clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=SHARED_BACKENDS)
async def shared(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[LogSite]:
    opened = LogSite(request.param, clock)
    try:
        yield opened
    finally:
        await opened.close()


def batch(count: int, clock: ManualClock) -> list[StreamEvent]:
    return [make_event(when=clock.now()) for _ in range(count)]


def ids(page: ReplayPage) -> list[str]:
    return [entry.event.id for entry in page.entries]


def of(events: list[StreamEvent]) -> list[str]:
    return [event.id for event in events]


async def delivered(log: EventLog, seen: Seen, events: list[StreamEvent]) -> None:
    """Wait until ``seen`` holds ``events`` (a shared log delivers from its tail task, a moment later)."""
    await eventually(lambda: len(seen.ids) >= len(events))


async def test_entries_keep_append_order_and_listeners_see_each_once(
    site: LogSite, clock: ManualClock
) -> None:
    log = await site.open()
    seen = Seen(log)
    first, second = batch(3, clock), batch(2, clock)
    await log.append(first)
    await log.append([])
    await log.append(second)
    await delivered(log, seen, first + second)
    assert seen.items == of(first + second)
    assert seen.positions == sorted(set(seen.positions))  # increasing, no repeat
    page = await log.read_after(None, 10)
    assert page.found and ids(page) == of(first + second)
    assert [entry.position for entry in page.entries] == seen.positions
    assert page.cursor == seen.positions[-1]
    frame = page.entries[0].frame
    assert frame.startswith(b"event: group_flushed\nid: " + first[0].id.encode() + b"\ndata: {")


async def test_read_after_a_retained_id_then_continue_from_the_cursor(
    site: LogSite, clock: ManualClock
) -> None:
    log = await site.open()
    events = batch(5, clock)
    await log.append(events)
    page = await log.read_after(events[1].id.upper(), 2)  # ids match case-insensitively
    assert page.found and ids(page) == of(events[2:4])
    page = await log.read_from(page.cursor, 10)
    assert page.found and ids(page) == of(events[4:])
    caught_up = await log.read_from(page.cursor, 10)
    assert caught_up.found and ids(caught_up) == [] and caught_up.cursor == page.cursor
    newest = await log.read_after(events[-1].id, 10)
    assert newest.found and ids(newest) == [] and newest.cursor == page.cursor
    more = batch(1, clock)
    await log.append(more)
    assert ids(await log.read_from(newest.cursor, 10)) == of(more)


async def test_an_empty_log_reads_empty_and_continues(site: LogSite, clock: ManualClock) -> None:
    log = await site.open()
    empty = await log.read_after(None, 10)
    assert empty.found and ids(empty) == []
    events = batch(2, clock)
    await log.append(events)
    page = await log.read_from(empty.cursor, 10)
    assert page.found and ids(page) == of(events)


@pytest.mark.parametrize("last_event_id", ["not-a-uuid", "019c3882-0000-7000-8000-000000000000", "x" * 500])
async def test_an_unknown_id_reads_from_the_oldest_and_says_so(
    site: LogSite, clock: ManualClock, last_event_id: str
) -> None:
    log = await site.open()
    events = batch(3, clock)
    await log.append(events)
    page = await log.read_after(last_event_id, 10)
    assert not page.found and ids(page) == of(events)
    after = await log.read_from(page.cursor, 10)  # the reader has been told: continuing is fine
    assert after.found and ids(after) == []


async def test_retention_by_count(site: LogSite, clock: ManualClock) -> None:
    log = await site.open(max_events=3)
    events = batch(10, clock)
    first = await log.read_after(None, 10)
    await log.append(events[:2])
    early = await log.read_from(first.cursor, 1)  # a reader that stopped after events[0]
    assert ids(early) == of(events[:1])
    await log.append(events[2:])
    await trim(log)  # the shared logs trim exactly here (approximately on append)
    assert ids(await log.read_after(None, 20)) == of(events[7:])
    evicted = await log.read_after(events[6].id, 10)
    assert not evicted.found and ids(evicted) == of(events[7:])
    kept = await log.read_after(events[7].id, 10)
    assert kept.found and ids(kept) == of(events[8:])
    behind = await log.read_from(early.cursor, 10)  # its successors were evicted
    assert not behind.found and ids(behind) == of(events[7:])
    assert (await log.read_from(behind.cursor, 10)).found


async def test_retention_by_age(site: LogSite, clock: ManualClock) -> None:
    log = await site.open(max_age_seconds=60)
    old = batch(2, clock)
    await log.append(old)
    clock.advance(30)
    young = batch(1, clock)
    await log.append(young)
    clock.advance(31)  # ``old`` is 61 s old, ``young`` 31 s
    await trim(log)
    assert ids(await log.read_after(None, 10)) == of(young)
    gone = await log.read_after(old[-1].id, 10)
    assert not gone.found and ids(gone) == of(young)
    assert (await log.read_after(young[0].id, 10)).found


async def test_a_removed_listener_sees_nothing_more(site: LogSite, clock: ManualClock) -> None:
    log = await site.open()
    kept, removed = Seen(log), Seen(log)
    log.remove_listener(removed.entry)
    events = batch(2, clock)
    await log.append(events)
    await delivered(log, kept, events)
    assert kept.ids == of(events) and removed.ids == []
    await log.ping()


# -- shared logs: several processes on one backend -----------------------------------------------


async def test_two_logs_on_one_backend_deliver_every_event_within_a_second(
    shared: LogSite, clock: ManualClock
) -> None:
    log_a, log_b = await shared.open(), await shared.open()
    seen_a, seen_b = Seen(log_a), Seen(log_b)
    from_a, from_b = batch(2, clock), batch(3, clock)
    await log_a.append(from_a)
    await log_b.append(from_b)
    await eventually(lambda: len(seen_a.ids) == 5 and len(seen_b.ids) == 5, within=1.0)
    assert seen_a.items == seen_b.items == of(from_a + from_b)
    assert seen_a.positions == seen_b.positions
    resumed = await log_b.read_after(from_a[0].id, 10)  # an id delivered by A resumes on B
    assert resumed.found and ids(resumed) == of(from_a[1:] + from_b)


async def test_a_log_opened_later_delivers_only_what_follows(shared: LogSite, clock: ManualClock) -> None:
    early = await shared.open()
    before = batch(2, clock)
    await early.append(before)
    late = await shared.open()
    seen = Seen(late)
    after = batch(1, clock)
    await early.append(after)
    await eventually(lambda: len(seen.ids) == 1)
    assert seen.items == of(after)


async def test_appending_the_same_event_again_stores_it_once(shared: LogSite, clock: ManualClock) -> None:
    log = await shared.open()
    seen = Seen(log)
    events = batch(3, clock)
    await log.append(events)
    await log.append(events[1:])  # a spool replayed after a crash
    extra = batch(1, clock)
    await log.append(extra)
    await eventually(lambda: len(seen.ids) == 4)
    assert seen.items == of(events + extra)
    assert ids(await log.read_after(None, 10)) == of(events + extra)


async def test_a_closed_shared_log_refuses_calls(shared: LogSite, clock: ManualClock) -> None:
    log = await shared.open()
    await log.close()
    with pytest.raises(BackendUnavailable):
        await log.append(batch(1, clock))
    with pytest.raises(BackendUnavailable):
        await log.ping()
    with pytest.raises(BackendUnavailable):
        await log.read_after(None, 10)
