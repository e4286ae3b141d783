"""The event spool: events the log refused wait on disk, in order, and are appended once it answers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.stream._events import make_event
from tests.stream.log_backends import FlakyLog
from tidegate.errors import BackendUnavailable
from tidegate.model.event import StreamEvent
from tidegate.stream.spool import EventSpool


def events(count: int) -> list[StreamEvent]:
    return [make_event() for _ in range(count)]


def ids(items: Sequence[StreamEvent]) -> list[str]:
    return [event.id for event in items]


async def test_spooled_events_are_appended_in_order_and_the_file_emptied(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "data" / "events-spool.jsonl")
    assert not spool.holds_events and spool.is_empty()
    first, second = events(2), events(3)
    spool.append(first)
    spool.append(second)
    assert spool.holds_events
    log = FlakyLog()
    assert await spool.replay(log) == 5
    assert ids(log.retained()) == ids(first + second)
    assert log.retained() == first + second  # every field survives the round trip
    assert spool.is_empty() and not spool.holds_events
    assert await spool.replay(log) == 0


async def test_a_failed_replay_keeps_what_was_not_appended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tidegate.stream.spool._CHUNK", 2)
    spool = EventSpool(tmp_path / "events-spool.jsonl")
    spooled = events(5)
    spool.append(spooled)
    log = FlakyLog()
    log.accept = 2  # the first chunk goes in, the second is refused
    with pytest.raises(BackendUnavailable):
        await spool.replay(log)
    assert ids(log.retained()) == ids(spooled[:2])
    assert spool.holds_events
    log.accept = None
    assert await spool.replay(log) == 3
    assert ids(log.retained()) == ids(spooled)


async def test_a_line_cut_short_by_a_crash_is_dropped_and_later_lines_kept(tmp_path: Path) -> None:
    path = tmp_path / "events-spool.jsonl"
    path.write_bytes(b'{"id":"torn","timest')
    spool = EventSpool(path)  # a restarted process: the file still holds events
    assert spool.holds_events
    later = events(1)
    spool.append(later)
    log = FlakyLog()
    assert await spool.replay(log) == 1
    assert ids(log.retained()) == ids(later)


async def test_two_processes_replaying_one_file_append_each_event_once(tmp_path: Path) -> None:
    path = tmp_path / "events-spool.jsonl"
    one, other = EventSpool(path), EventSpool(path)  # two workers sharing a data directory
    spooled = events(300)
    one.append(spooled[:150])
    other.append(spooled[150:])
    log = FlakyLog()
    counts = await asyncio.gather(one.replay(log), other.replay(log))
    assert sum(counts) == 300
    assert ids(log.retained()) == ids(spooled)


class _HeldLog:
    """An event log whose appends wait until the test lets them through."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.appended: list[StreamEvent] = []

    async def append(self, events: Sequence[StreamEvent]) -> None:
        await self.release.wait()
        self.appended.extend(events)


async def test_many_spooling_dispatches_during_a_replay_do_not_starve_it_of_threads(tmp_path: Path) -> None:
    """Waiting spoolers must not sit in worker threads blocked on the file lock the replay holds."""
    from concurrent.futures import ThreadPoolExecutor

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
    spool = EventSpool(tmp_path / "events-spool.jsonl")
    await spool.add([make_event()])
    log = _HeldLog()
    replay = asyncio.create_task(spool.replay(log))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # the replay holds the lock, waiting on the log
    adds = [asyncio.create_task(spool.add([make_event()])) for _ in range(8)]
    await asyncio.sleep(0.05)
    log.release.set()
    assert await asyncio.wait_for(replay, timeout=10) == 1
    await asyncio.wait_for(asyncio.gather(*adds), timeout=10)
    assert await spool.replay(log) == 8  # type: ignore[arg-type]
