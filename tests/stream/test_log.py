"""The local event log: positions, replay reads, retention by count and age, listeners."""

from __future__ import annotations

import pytest

from tests.stream._events import T0, event_id, make_event
from tidegate.clock import ManualClock
from tidegate.model.event import StreamEvent
from tidegate.stream.frames import encode_event
from tidegate.stream.log import Entry, LocalEventLog


def events(first: int, count: int, clock: ManualClock | None = None) -> list[StreamEvent]:
    when = clock.now() if clock else T0
    return [make_event(n=n, when=when) for n in range(first, first + count)]


def positions(entries: object) -> list[int]:
    assert isinstance(entries, list)
    return [entry.position for entry in entries]


async def test_positions_follow_append_order_and_listeners_see_each_once() -> None:
    clock = ManualClock(T0)
    log = LocalEventLog(100, 3600, clock.now)
    seen: list[Entry] = []
    log.add_listener(seen.append)
    await log.append(events(1, 3))
    await log.append([])
    await log.append(events(4, 2))
    assert [entry.position for entry in seen] == [1, 2, 3, 4, 5]
    assert [entry.event.id for entry in seen] == [event_id(n) for n in range(1, 6)]
    assert log.head == 5 and log.size == 5
    assert [event.id for event in log.retained()] == [event_id(n) for n in range(1, 6)]


async def test_read_after_a_retained_id() -> None:
    log = LocalEventLog(100, 3600, ManualClock(T0).now)
    await log.append(events(1, 5))
    page = await log.read_after(event_id(2), 10)
    assert page.found and positions(page.entries) == [3, 4, 5] and page.cursor == 5
    page = await log.read_after(event_id(2), 2)
    assert page.found and positions(page.entries) == [3, 4] and page.cursor == 4
    page = await log.read_from(page.cursor, 2)
    assert page.found and positions(page.entries) == [5] and page.cursor == 5
    newest = await log.read_after(event_id(5), 10)
    assert newest.found and list(newest.entries) == [] and newest.cursor == 5
    caught_up = await log.read_from(5, 10)
    assert caught_up.found and list(caught_up.entries) == [] and caught_up.cursor == 5


async def test_ids_are_matched_case_insensitively() -> None:
    log = LocalEventLog(100, 3600, ManualClock(T0).now)
    await log.append([make_event(n=0xABC)])
    await log.append(events(1, 1))
    page = await log.read_after(event_id(0xABC).upper(), 10)
    assert page.found and positions(page.entries) == [2]


async def test_read_after_none_reads_from_the_oldest() -> None:
    log = LocalEventLog(100, 3600, ManualClock(T0).now)
    empty = await log.read_after(None, 10)
    assert empty.found and list(empty.entries) == [] and empty.cursor == 0
    await log.append(events(1, 3))
    page = await log.read_after(None, 10)
    assert page.found and positions(page.entries) == [1, 2, 3]


@pytest.mark.parametrize(
    "last_event_id", ["not-a-uuid", "", event_id(999), "019c3882-89c8-7b22-8e11-00000000000"]
)
async def test_unknown_ids_start_at_the_oldest_and_say_so(last_event_id: str) -> None:
    log = LocalEventLog(3, 3600, ManualClock(T0).now)
    await log.append(events(1, 5))  # 1 and 2 are evicted
    page = await log.read_after(last_event_id, 10)
    assert not page.found and positions(page.entries) == [3, 4, 5] and page.cursor == 5


async def test_retention_by_count_evicts_the_oldest_and_cleans_the_id_index() -> None:
    log = LocalEventLog(3, 3600, ManualClock(T0).now)
    await log.append(events(1, 10))
    assert [event.id for event in log.retained()] == [event_id(n) for n in (8, 9, 10)]
    assert len(log._index) == 3  # no id of an evicted event is kept
    evicted = await log.read_after(event_id(7), 10)
    assert not evicted.found and positions(evicted.entries) == [8, 9, 10]
    kept = await log.read_after(event_id(8), 10)
    assert kept.found and positions(kept.entries) == [9, 10]


async def test_a_cursor_whose_successors_were_evicted_is_reported() -> None:
    log = LocalEventLog(3, 3600, ManualClock(T0).now)
    await log.append(events(1, 3))
    first = await log.read_after(None, 1)
    assert positions(first.entries) == [1]
    await log.append(events(4, 1))  # evicts 1: the cursor's successor 2 is still there
    page = await log.read_from(first.cursor, 10)
    assert page.found and positions(page.entries) == [2, 3, 4]
    await log.append(events(5, 2))  # evicts 2 and 3
    page = await log.read_from(2, 10)
    assert not page.found and positions(page.entries) == [4, 5, 6]


async def test_retention_by_age_on_trim_and_on_append() -> None:
    clock = ManualClock(T0)
    log = LocalEventLog(100, 60, clock.now)
    await log.append(events(1, 2, clock))
    clock.advance(30)
    await log.append(events(3, 1, clock))
    clock.advance(30)
    assert log.trim() == 0  # exactly 60 s old is still inside the window
    clock.advance(0.000001)
    assert log.trim() == 2
    assert [event.id for event in log.retained()] == [event_id(3)]
    assert len(log._index) == 1
    clock.advance(60)
    await log.append(events(4, 1, clock))  # the append itself evicts the expired event
    assert log.size == 1 and [event.id for event in log.retained()] == [event_id(4)]
    page = await log.read_after(event_id(3), 10)
    assert not page.found and positions(page.entries) == [4]


async def test_an_empty_window_still_numbers_and_publishes_events() -> None:
    clock = ManualClock(T0)
    log = LocalEventLog(0, 3600, clock.now)
    seen: list[int] = []
    log.add_listener(lambda entry: seen.append(entry.position))
    await log.append(events(1, 3))
    assert seen == [1, 2, 3] and log.retained() == [] and log._index == {}
    page = await log.read_after(event_id(3), 10)
    assert not page.found and list(page.entries) == [] and page.cursor == 3
    after = await log.read_from(page.cursor, 10)
    assert after.found and list(after.entries) == [] and after.cursor == 3


async def test_a_failing_listener_never_fails_the_append(caplog: pytest.LogCaptureFixture) -> None:
    log = LocalEventLog(10, 3600, ManualClock(T0).now)
    seen: list[int] = []

    def broken(entry: Entry) -> None:
        raise RuntimeError("boom")

    log.add_listener(broken)
    log.add_listener(lambda entry: seen.append(entry.position))
    await log.append(events(1, 2))
    assert seen == [1, 2]
    assert "event log listener failed" in caplog.text


async def test_remove_listener_and_close() -> None:
    log = LocalEventLog(10, 3600, ManualClock(T0).now)
    first: list[int] = []
    second: list[int] = []

    def listener(entry: Entry) -> None:
        second.append(entry.position)

    log.add_listener(lambda entry: first.append(entry.position))
    log.add_listener(listener)
    await log.append(events(1, 1))
    log.remove_listener(listener)
    await log.append(events(2, 1))
    await log.close()
    await log.append(events(3, 1))
    assert first == [1, 2] and second == [1]
    await log.ping()


async def test_reused_id_keeps_the_newest_mapping() -> None:
    log = LocalEventLog(2, 3600, ManualClock(T0).now)
    await log.append([make_event(n=1), make_event(n=2), make_event(n=1)])  # evicts the first n=1
    page = await log.read_after(event_id(1), 10)
    assert page.found and list(page.entries) == []


def test_entry_frame_is_encoded_once_and_shared() -> None:
    event = make_event(n=1)
    entry = Entry(1, event)
    frame = entry.frame
    assert frame == encode_event(event)
    assert entry.frame is frame
    assert "Entry(1, group_flushed" in repr(entry)
    stored = b"event: group_flushed\nid: x\ndata: {}\n\n"
    assert Entry(2, event, stored).frame is stored  # a log that keeps encoded frames hands them in
