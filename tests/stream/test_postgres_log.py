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
from tidegate.stream.log import Entry
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
        sql, key, channel = writer._sql.append.get(skip=True, notify=True), writer._lock_key, writer._channel
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
        assert [(row["track"], row["version"]) for row in versions] == [("events", 1), ("events", 2)]
        with pytest.raises(asyncpg.UniqueViolationError):  # one row per event id
            await conn.execute(
                f"INSERT INTO {log.names.table('events')} (event_id, created_at, event)"
                " VALUES ('x', now(), ''), ('x', now(), '')"
            )


async def test_an_append_hands_over_its_own_entries_before_it_returns(
    site: LogSite, clock: ManualClock
) -> None:
    log = await postgres_log(site, poll_interval=30.0)
    seen = Seen(log)
    first, second, third = batch(2, clock), batch(1, clock), batch(2, clock)
    await log.append(first)
    assert seen.items == of(first)  # handed over by the append itself, nothing read back
    await log.append([first[1], *second, second[0]])  # a stored id and a repeated one are skipped
    assert seen.items == of(first + second)
    await log.append(third)  # after the hole the skipped ids left in the positions
    assert seen.items == of(first + second + third)
    assert seen.positions == sorted(set(seen.positions))
    await asyncio.sleep(0.2)
    assert seen.items == of(first + second + third)  # and the tail delivers none of them again


async def test_an_append_whose_answer_was_lost_is_retried_without_a_duplicate_error(
    site: LogSite, proxy: TcpProxy, clock: ManualClock
) -> None:
    """The first attempt goes out without ON CONFLICT; the retry on a fresh connection must skip the
    events the lost attempt committed, not fail on them, and deliver each once."""
    log = await postgres_log(site, url=proxy.url, poll_interval=30.0, watchdog_interval=30.0)
    seen = Seen(log)
    first, second = batch(1, clock), batch(2, clock)
    await log.append(first)
    await asyncio.sleep(0.1)  # the NOTIFY has come: the next client to send anything is the append
    proxy.lose_next_answer()
    await log.append(second)
    await eventually(lambda: len(seen.items) == 3)
    await asyncio.sleep(0.3)
    assert seen.items == of(first + second)
    assert [entry.event.id for entry in (await log.read_after(None, 10)).entries] == of(first + second)


class Notifications:
    """What a plain LISTEN connection (no Tidegate instance) hears on a log's channel: append heads."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None

    async def listen(self, url: str, channel: str) -> None:
        self._conn = await asyncpg.connect(url)
        await self._conn.add_listener(channel, self._heard)

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        if str(payload).isdigit():
            self.heads.append(str(payload))

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


async def test_a_lone_instance_appends_without_notify_until_a_peer_joins(
    site: LogSite, clock: ManualClock
) -> None:
    """Only a peer needs a NOTIFY: a lone instance leaves it out; a newcomer's hello turns it back on
    (both ways: each tail below waits 30 s between polls, so only a NOTIFY delivers in time); a peer
    that left is forgotten after three of its watchdog intervals."""
    quick = {"poll_interval": 30.0, "watchdog_interval": 0.2}
    first = await postgres_log(site, **quick)
    heard = Notifications()
    await heard.listen(site.url, first._channel)
    try:
        await asyncio.sleep(0.4)  # past the grace: first knows no peer
        await first.append(batch(1, clock))
        await asyncio.sleep(0.2)
        assert heard.heads == []
        second = await postgres_log(site, **quick)
        seen_first, seen_second = Seen(first), Seen(second)
        await asyncio.sleep(0.4)  # the hello is answered, and second's grace is over
        from_first, from_second = batch(1, clock), batch(1, clock)
        await first.append(from_first)
        await eventually(lambda: seen_second.ids == of(from_first), within=3.0)
        await second.append(from_second)
        await eventually(lambda: seen_first.ids == of(from_first + from_second), within=3.0)
        assert len(heard.heads) == 2
        await second.close()
        await asyncio.sleep(0.8)  # three of second's watchdog intervals, and a little more
        await first.append(batch(1, clock))
        await asyncio.sleep(0.2)
        assert len(heard.heads) == 2
    finally:
        await heard.close()


async def test_handed_over_entries_equal_what_a_reader_of_the_log_gets(
    site: LogSite, clock: ManualClock
) -> None:
    """The append delivers the events it holds instead of decoding what it stored: subscribers on this
    instance must get the same positions, events and frames as subscribers elsewhere."""
    log = await postgres_log(site, poll_interval=30.0)
    reader = await postgres_log(site)
    handed: list[Entry] = []
    read: list[Entry] = []
    log.add_listener(handed.append)
    reader.add_listener(read.append)
    events = batch(3, clock)
    await log.append(events)
    assert len(handed) == 3
    await eventually(lambda: len(read) == 3)
    replayed = (await log.read_after(None, 10)).entries
    for other in (read, replayed):
        assert [e.position for e in handed] == [e.position for e in other]
        assert [e.frame for e in handed] == [e.frame for e in other]
        assert [e.event for e in handed] == [e.event for e in other]


async def test_appenders_interleaving_on_one_table_keep_one_order_without_gap_or_duplicate(
    site: LogSite, clock: ManualClock
) -> None:
    """Appends queued behind another's lock, from several processes: whichever delivers (a hand-over or
    the tail), every process delivers one order; and once caught up, an append hands over again."""
    one, two = await postgres_log(site, poll_interval=30.0), await postgres_log(site, poll_interval=30.0)
    reader = await postgres_log(site)
    seen = [Seen(log) for log in (one, two, reader)]
    await one.append(batch(1, clock))
    await two.append(batch(1, clock))  # ``one`` is behind now: its tail catches up on the NOTIFY
    outside, mine, theirs = batch(1, clock), batch(2, clock), batch(2, clock)
    async with connection(site.url) as conn:
        transaction = conn.transaction()
        await transaction.start()
        sql, key, channel = one._sql.append.get(skip=True, notify=True), one._lock_key, one._channel
        await conn.execute(sql, key, of(outside), [encode_data(outside[0])], clock.now(), channel)
        racing = [asyncio.create_task(one.append(mine)), asyncio.create_task(two.append(theirs))]
        await asyncio.sleep(0.2)  # both queue on the lock the open transaction holds
        await transaction.commit()
        await asyncio.gather(*racing)
    await eventually(lambda: all(len(s.ids) == 7 for s in seen))
    assert seen[0].items == seen[1].items == seen[2].items
    assert len(set(seen[2].ids)) == 7 and seen[2].positions == sorted(seen[2].positions)
    assert seen[2].ids[2] == outside[0].id and set(seen[2].ids[3:]) == set(of(mine + theirs))
    last = batch(1, clock)
    await one.append(last)
    assert seen[0].ids[-1] == last[0].id  # caught up again: handed over before the append returned
    await eventually(lambda: seen[1].items == seen[2].items == seen[0].items)


async def test_the_tail_does_not_read_back_this_process_entries(site: LogSite, clock: ManualClock) -> None:
    log = await postgres_log(site, poll_interval=30.0, watchdog_interval=30.0)
    other = await postgres_log(site)
    seen = Seen(log)
    await eventually(lambda: log._listen is not None)
    await asyncio.sleep(0.1)  # the read that follows connecting the listen connection
    reads = 0
    poll = log._poll

    async def counted() -> bool:
        nonlocal reads
        reads += 1
        return await poll()

    log._poll = counted  # type: ignore[method-assign]
    for _ in range(10):
        await log.append(batch(1, clock))
        await asyncio.sleep(0.01)  # each NOTIFY arrives (the head it names is already delivered)
    await asyncio.sleep(0.2)
    assert reads == 0 and len(seen.ids) == 10
    foreign = batch(1, clock)
    await other.append(foreign)  # another process's entry still wakes the tail at once
    await eventually(lambda: seen.ids[-1:] == of(foreign), within=1.0)
    assert reads >= 1


async def test_under_a_stricter_isolation_the_head_is_unknown_and_the_tail_delivers(
    site: LogSite, clock: ManualClock
) -> None:
    """The head an append found is read with a fresh snapshot, which only READ COMMITTED takes: in a
    REPEATABLE READ transaction it could predate other appends, so the lock function says it does not
    know, and the appender leaves its entries to the tail."""
    log = await postgres_log(site, poll_interval=30.0)
    seen = Seen(log)
    events = batch(1, clock)
    async with connection(site.url) as conn, conn.transaction(isolation="repeatable_read"):
        sql, key, channel = log._sql.append.get(skip=True, notify=True), log._lock_key, log._channel
        row = await conn.fetchrow(sql, key, of(events), [encode_data(events[0])], clock.now(), channel)
    assert row is not None and row["before"] is None and list(row["ids"]) == [events[0].id.lower()]
    await eventually(lambda: seen.items == of(events), within=1.0)  # the NOTIFY woke the tail
