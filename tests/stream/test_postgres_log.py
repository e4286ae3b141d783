"""The PostgreSQL event log beyond the contract: commit order, concurrent appenders, the LISTEN
connection and its watchdog, and outages through a TCP proxy (stream.md §1.8, §1.11, §1.12)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.postgres.pg_support import connection
from tests.postgres.tcp_proxy import TcpProxy
from tests.stream._events import T0, make_event
from tests.stream.log_backends import LogSite, Seen, eventually
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.event import StreamEvent
from tidegate.stream.codec import encode_data
from tidegate.stream.postgres_log import PostgresEventLog


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def site(clock: ManualClock) -> AsyncIterator[LogSite]:
    opened = LogSite("postgres", clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def proxy(site: LogSite) -> AsyncIterator[TcpProxy]:
    running = TcpProxy(site.url)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def batch(count: int, clock: ManualClock, **fields: object) -> list[StreamEvent]:
    return [make_event(when=clock.now()) for _ in range(count)]


def of(events: list[StreamEvent]) -> list[str]:
    return [event.id for event in events]


async def postgres_log(site: LogSite, **options: object) -> PostgresEventLog:
    log = await site.open(**options)  # type: ignore[arg-type]
    assert isinstance(log, PostgresEventLog)
    return log


async def test_an_append_that_commits_late_is_never_skipped(site: LogSite, clock: ManualClock) -> None:
    """The race the advisory lock exists for: a position drawn first but committed last."""
    reader = await postgres_log(site)
    writer = await postgres_log(site)
    seen = Seen(reader)
    slow, fast = batch(1, clock), batch(1, clock)
    async with connection(site.url) as conn:
        transaction = conn.transaction()
        await transaction.start()
        # Exactly what an append runs, inside a transaction that stays open: it holds the lock.
        sql, key, channel = writer._sql.append, writer._lock_key, writer._channel
        await conn.execute(sql, key, [slow[0].id], [encode_data(slow[0])], clock.now(), channel)
        racing = asyncio.create_task(writer.append(fast))
        await asyncio.sleep(0.3)  # time enough for the fast append to commit, were it not held back
        await transaction.commit()
        await racing
    await eventually(lambda: len(seen.ids) == 2)
    assert seen.items == of(slow + fast)


async def test_concurrent_appenders_in_several_processes_are_delivered_once_in_order(
    site: LogSite, clock: ManualClock
) -> None:
    writers = [await postgres_log(site) for _ in range(3)]
    reader = await postgres_log(site)
    seen, own = Seen(reader), [Seen(writer) for writer in writers]
    sent: dict[int, list[str]] = {}

    async def appender(number: int, log: PostgresEventLog) -> None:
        mine = sent.setdefault(number, [])
        for _ in range(25):
            events = batch(2, clock)
            await log.append(events)
            mine.extend(of(events))

    await asyncio.gather(*(appender(n, writers[n % 3]) for n in range(24)))
    total = sum(len(ids) for ids in sent.values())
    assert total == 1200
    await eventually(lambda: len(seen.ids) == total and all(len(s.ids) == total for s in own), within=10)
    assert len(set(seen.ids)) == total and "gap" not in seen.items
    assert seen.positions == sorted(seen.positions)
    for ids in sent.values():  # every appender's events keep their order
        order = [seen.ids.index(event_id) for event_id in ids]
        assert order == sorted(order)
    assert all(s.items == seen.items for s in own)  # every process delivers the same order
    page = await reader.read_after(None, 2000)
    assert [entry.event.id for entry in page.entries] == seen.ids


async def test_notify_wakes_the_tail_and_a_killed_listen_connection_is_replaced(
    site: LogSite, clock: ManualClock
) -> None:
    listener = await postgres_log(site, poll_interval=30.0, watchdog_interval=0.1)
    writer = await postgres_log(site)
    seen = Seen(listener)
    await eventually(lambda: listener._listen is not None)
    first = batch(1, clock)
    started = time.monotonic()
    await writer.append(first)
    await eventually(lambda: seen.items == of(first), within=1.0)  # NOTIFY, not the 30 s poll
    assert time.monotonic() - started < 1.0
    assert listener._listen is not None
    pid = listener._listen.get_server_pid()
    async with connection(site.url) as conn:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    await eventually(lambda: listener._listen is not None and listener._listen.get_server_pid() != pid)
    second = batch(1, clock)
    await writer.append(second)
    await eventually(lambda: seen.items == of(first + second), within=1.0)


async def test_a_lost_notify_is_caught_by_the_poll(site: LogSite, clock: ManualClock) -> None:
    listener = await postgres_log(site, poll_interval=0.1)
    seen = Seen(listener)
    events = batch(2, clock)
    async with connection(site.url) as conn:  # rows committed without any NOTIFY
        for event in events:
            await conn.execute(
                f"INSERT INTO {listener.names.table('events')} (event_id, created_at, event)"
                " VALUES ($1, $2, $3)",
                event.id,
                clock.now(),
                encode_data(event),
            )
    await eventually(lambda: seen.items == of(events), within=2.0)


async def test_delivery_resumes_after_an_outage_and_evictions_meanwhile_are_a_gap(
    site: LogSite, proxy: TcpProxy, clock: ManualClock
) -> None:
    cut_off = await postgres_log(site, url=proxy.url, max_events=2, watchdog_interval=0.2)
    writer = await postgres_log(site, max_events=2)
    seen = Seen(cut_off)
    before = batch(1, clock)
    await writer.append(before)
    await eventually(lambda: seen.items == of(before))

    await proxy.stop()
    with pytest.raises(BackendUnavailable):
        await cut_off.append(batch(1, clock))
    during = batch(2, clock)
    await writer.append(during)
    await proxy.start()
    await eventually(lambda: len(seen.ids) == 3)
    assert seen.items == of(before + during)  # kept while it was away: no gap

    await proxy.stop()
    evicted = batch(4, clock)
    await writer.append(evicted)
    assert await writer.trim() == 5  # only the newest two stay
    await proxy.start()
    await eventually(lambda: len(seen.ids) == 5)
    assert seen.items == [*of(before + during), "gap", *of(evicted[-2:])]


async def test_the_events_tables_come_from_the_migration_track(site: LogSite) -> None:
    log = await postgres_log(site)
    async with connection(site.url) as conn:
        versions = await conn.fetch(
            f"SELECT track, version FROM {log.names.table('schema_version')} WHERE track = 'events'"
        )
        assert [(row["track"], row["version"]) for row in versions] == [("events", 1)]
        with pytest.raises(asyncpg.UniqueViolationError):  # one row per event id
            await conn.execute(
                f"INSERT INTO {log.names.table('events')} (event_id, created_at, event)"
                " VALUES ('x', now(), ''), ('x', now(), '')"
            )
