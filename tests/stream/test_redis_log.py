"""The Redis event log beyond the contract: positions, ids under clock skew, and outages (stream.md §1.11).

Outages are real: a TCP proxy in front of the test Redis cuts one "process" off while another keeps
appending, and a private redis-server is killed and restarted without persistence (the log is lost)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.postgres.tcp_proxy import TcpProxy
from tests.store.redis_support import private_redis
from tests.stream._events import T0, make_event
from tests.stream.log_backends import LogSite, Seen, eventually
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.event import StreamEvent
from tidegate.stream.log import Entry, EventLog
from tidegate.stream.redis_log import RedisEventLog, entry_id, position_of


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def site(clock: ManualClock) -> AsyncIterator[LogSite]:
    opened = LogSite("redis", clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def proxy(site: LogSite) -> AsyncIterator[TcpProxy]:
    """A way to cut one log off the shared test Redis."""
    running = TcpProxy(site.url)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def batch(count: int, clock: ManualClock) -> list[StreamEvent]:
    return [make_event(when=clock.now()) for _ in range(count)]


def of(events: list[StreamEvent]) -> list[str]:
    return [event.id for event in events]


def test_positions_map_entry_ids_both_ways() -> None:
    assert position_of("1770474600000-5") == (1770474600000 << 20) | 5
    assert entry_id((1770474600000 << 20) | 5) == "1770474600000-5"
    assert entry_id(0) == "0-0" and position_of("0-0") == 0
    assert position_of("1770474600000-0") > position_of("1770474599999-1048575")
    assert position_of("4398046511103-1048575") < 1 << 62  # still below 2^62 in the year 2109


async def test_ids_keep_increasing_when_an_appender_clock_lags(site: LogSite) -> None:
    ahead, behind = ManualClock(T0), ManualClock(T0)
    behind.advance(-60)
    log_ahead = await site.open(clock=ahead)  # two hosts, two clocks
    log_behind = await site.open(clock=behind)
    seen = Seen(log_ahead)
    first, second, third = batch(1, ahead), batch(2, behind), batch(1, ahead)
    await log_ahead.append(first)
    await log_behind.append(second)
    await log_ahead.append(third)
    await eventually(lambda: len(seen.ids) == 4)
    assert seen.items == of(first + second + third)
    assert seen.positions == sorted(set(seen.positions))


async def test_a_full_millisecond_moves_to_the_next(site: LogSite, clock: ManualClock) -> None:
    log = await site.open()
    ms = int(T0.timestamp() * 1000)
    async with Redis.from_url(site.url) as raw:
        await raw.set(f"{site.location}:events:last", f"{ms}-1048575")
    await log.append(batch(1, clock))
    async with Redis.from_url(site.url) as raw:
        assert await raw.get(f"{site.location}:events:last") == f"{ms + 1}-0".encode()
    page = await log.read_after(None, 10)
    assert [entry.position for entry in page.entries] == [(ms + 1) << 20]


async def test_appends_and_pings_fail_fast_while_redis_is_down(clock: ManualClock) -> None:
    async with private_redis() as server:
        site = LogSite("redis", clock, url=server.url)
        log = await site.open(operation_timeout=2.0)
        try:
            await server.kill()
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                await log.append(batch(1, clock))
            with pytest.raises(BackendUnavailable):
                await log.ping()
            with pytest.raises(BackendUnavailable):
                await log.read_after(None, 10)
            assert time.monotonic() - started < 2.0  # refused, not waited for
        finally:
            await log.close()


async def test_delivery_resumes_after_an_outage_without_a_gap(
    site: LogSite, proxy: TcpProxy, clock: ManualClock
) -> None:
    cut_off = await site.open(url=proxy.url)
    writer = await site.open()
    seen = Seen(cut_off)
    before = batch(1, clock)
    await writer.append(before)
    await eventually(lambda: seen.items == of(before))
    await proxy.stop()
    with pytest.raises(BackendUnavailable):
        await cut_off.append(batch(1, clock))
    during = batch(3, clock)
    await writer.append(during)
    await proxy.start()
    await eventually(lambda: len(seen.ids) == 4)
    assert seen.items == of(before + during)  # no gap, nothing twice


async def test_entries_evicted_during_an_outage_are_announced_as_a_gap(
    site: LogSite, proxy: TcpProxy, clock: ManualClock
) -> None:
    cut_off = await site.open(max_events=2, url=proxy.url)
    writer = await site.open(max_events=2)
    assert isinstance(writer, RedisEventLog)
    seen = Seen(cut_off)
    before = batch(1, clock)
    await writer.append(before)
    await eventually(lambda: seen.items == of(before))
    await proxy.stop()
    during = batch(5, clock)
    await writer.append(during)
    await writer.trim()
    await proxy.start()
    await eventually(lambda: len(seen.ids) == 3)
    assert seen.items == [*of(before), "gap", *of(during[-2:])]


async def test_a_redis_restarted_empty_is_one_gap_then_delivery_goes_on(clock: ManualClock) -> None:
    async with private_redis() as server:
        site = LogSite("redis", clock, url=server.url)
        try:
            reader: EventLog = await site.open()
            writer = await site.open()
            seen = Seen(reader)
            before = batch(2, clock)
            await writer.append(before)
            await eventually(lambda: seen.items == of(before))
            cursor = (await reader.read_after(None, 10)).cursor
            await server.kill()
            await server.start()  # without persistence: the stream and its ids are gone
            await eventually(lambda: "gap" in seen.items)  # announced without waiting for an append
            lost = await reader.read_from(cursor, 10)
            assert not lost.found and list(lost.entries) == [] and lost.cursor == 0
            assert (await reader.read_from(lost.cursor, 10)).found
            after = batch(2, clock)
            await eventually_appended(writer, [before[1], *after])  # a spooled copy comes back too
            await eventually(lambda: len(seen.ids) == 4)
            assert seen.items == [*of(before), "gap", *of(after)]  # ... but is not delivered twice
        finally:
            await site.close()


async def eventually_appended(log: EventLog, events: list[StreamEvent]) -> None:
    """Append once the log's pool has reconnected (the first call after a restart may still fail)."""
    for _ in range(100):
        try:
            await log.append(events)
            return
        except BackendUnavailable:
            await asyncio.sleep(0.05)
    raise AssertionError("the log never accepted the append")


async def test_an_append_delivers_its_own_entries_before_it_returns(
    site: LogSite, clock: ManualClock
) -> None:
    log = await site.open(linger_seconds=30.0)
    seen = Seen(log)
    first, second = batch(2, clock), batch(1, clock)
    await log.append(first)
    assert seen.items == of(first)  # handed over by the append itself, no XREAD awaited
    await log.append(second)
    assert seen.items == of(first + second)
    await log.append(first)  # already in the log: skipped by the script, not delivered again
    await asyncio.sleep(0.3)
    assert seen.items == of(first + second)


async def test_handed_over_entries_equal_what_a_reader_of_the_log_gets(
    site: LogSite, clock: ManualClock
) -> None:
    """The append hands over the events it holds instead of decoding what it stored: subscribers on
    this instance must get the same positions, events and frames as subscribers elsewhere."""
    log = await site.open(linger_seconds=30.0)
    handed: list[Entry] = []
    log.add_listener(handed.append)
    events = batch(3, clock)
    await log.append(events)
    replayed = (await log.read_after(None, 10)).entries
    assert [e.position for e in handed] == [e.position for e in replayed]
    assert [e.frame for e in handed] == [e.frame for e in replayed]
    assert [e.event for e in handed] == [e.event for e in replayed]


async def test_a_busy_appender_wakes_its_tail_once_per_linger_not_once_per_append(
    site: LogSite, clock: ManualClock
) -> None:
    log = await site.open(linger_seconds=30.0)
    assert isinstance(log, RedisEventLog)
    reads = 0
    xread = log._tail_client.xread

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await xread(*args, **kwargs)

    log._tail_client.xread = counted  # type: ignore[method-assign]
    seen = Seen(log)
    events = batch(40, clock)
    for event in events:
        await log.append([event])
    assert seen.items == of(events)
    assert reads <= 3  # the blocked read woken by the first append, then the linger


async def test_a_busy_appender_does_not_read_back_its_own_entries(site: LogSite, clock: ManualClock) -> None:
    """While this process keeps appending, its tail waits rather than read back (and parse) the entries
    its appends handed over: they find other instances' entries themselves."""
    log = await site.open(linger_seconds=0.05)
    assert isinstance(log, RedisEventLog)
    read_back = 0
    xread = log._tail_client.xread

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal read_back
        reply = await xread(*args, **kwargs)
        read_back += sum(len(entries) for _, entries in reply or ())
        return reply

    log._tail_client.xread = counted  # type: ignore[method-assign]
    seen = Seen(log)
    events = batch(150, clock)
    for event in events:  # about 0.3 s of appends, six lingers
        await log.append([event])
        await asyncio.sleep(0.002)
    assert seen.items == of(events)
    assert read_back <= 3  # the blocked read woken by the first append; then nothing until quiet


async def test_another_instance_entry_after_the_last_own_append_arrives_after_a_linger(
    site: LogSite, clock: ManualClock
) -> None:
    mine = await site.open(linger_seconds=0.2)
    other = await site.open()
    seen = Seen(mine)
    own, theirs = batch(3, clock), batch(1, clock)
    for event in own:
        await mine.append([event])
    await other.append(theirs)  # nothing of mine follows it: the tail reads it once mine is quiet
    await eventually(lambda: len(seen.ids) == 4, within=5.0)
    assert seen.items == of(own + theirs)


async def test_entries_of_other_appenders_keep_their_place_between_own_entries(
    site: LogSite, clock: ManualClock
) -> None:
    mine = await site.open(linger_seconds=30.0)
    other = await site.open()
    seen = Seen(mine)
    first, theirs, then, last = batch(1, clock), batch(2, clock), batch(1, clock), batch(1, clock)
    await mine.append(first)
    await other.append(theirs)
    await mine.append(then)  # finds the tail behind: left to the tail, which it hurries out of its linger
    await eventually(lambda: len(seen.ids) == 4, within=10.0)
    await mine.append(last)
    await eventually(lambda: len(seen.ids) == 5, within=10.0)
    assert seen.items == of(first + theirs + then + last)  # stream order, no gap, nothing twice
    assert seen.positions == sorted(set(seen.positions))


async def test_appends_go_on_after_redis_drops_the_kept_connection_or_forgets_the_script(
    clock: ManualClock,
) -> None:
    async with private_redis() as server:
        site = LogSite("redis", clock, url=server.url)
        try:
            log = await site.open()
            seen = Seen(log)
            first, second, third = batch(1, clock), batch(1, clock), batch(1, clock)
            await log.append(first)
            async with Redis.from_url(server.url) as raw:
                # every other client goes, as in a restart: the kept connection is dead
                await raw.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
                await log.append(second)  # retried once, on a fresh connection
                await raw.script_flush()
            await log.append(third)  # NOSCRIPT: loaded again, then run
            await eventually(lambda: len(seen.ids) == 3)
            assert seen.items == of(first + second + third)
        finally:
            await site.close()


class _WithoutPrivateSend:
    """A connection as a redis-py without ``_send_packed_command`` would hand out."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        if name == "_send_packed_command":
            raise AttributeError(name)
        return getattr(self._conn, name)


async def test_the_append_send_works_without_redis_py_internals(site: LogSite) -> None:
    """The append writes through redis-py's private send while it exists and its public one otherwise,
    so a redis-py upgrade that drops the private method costs speed, never appends."""
    from tidegate.stream.redis_log import _pack, _send

    client = Redis.from_url(site.url, protocol=2)
    try:
        conn = await client.connection_pool.get_connection()
        try:
            for target in (conn, _WithoutPrivateSend(conn)):
                await _send(target, _pack([b"ECHO", b"tidegate"]))
                assert await conn.read_response() == b"tidegate"
        finally:
            await client.connection_pool.release(conn)
    finally:
        await client.aclose()


async def test_appends_beyond_the_pool_size_all_get_a_connection_in_turn(
    site: LogSite, clock: ManualClock
) -> None:
    """More appenders than connections, each appending back to back: the connection kept between
    appends goes back to the pool while others queue for one, so no appender starves until its
    timeout (it did: the kept connection passed from append to append and the queue never moved)."""
    log = await site.open(max_events=10_000, pool_size=3, operation_timeout=0.2)
    seen = Seen(log)

    async def appender() -> None:
        for _ in range(300):
            await log.append(batch(1, clock))

    async with asyncio.TaskGroup() as group:
        for _ in range(12):
            group.create_task(appender())
    await eventually(lambda: len(seen.ids) == 3600)
