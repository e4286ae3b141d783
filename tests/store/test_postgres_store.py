"""PostgresStateStore beyond the contract: atomicity across instances (separate pools), the tables it
writes, keys ``text`` could not hold, and batched sweeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.postgres.pg_support import connection, open_postgres_store, postgres_url, unique_schema
from tidegate.clock import ManualClock
from tidegate.postgres.names import TableNames
from tidegate.store import postgres as postgres_module
from tidegate.store.postgres import PostgresStateStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def pair(clock: ManualClock) -> AsyncIterator[tuple[PostgresStateStore, PostgresStateStore]]:
    """Two instances on one schema, each with its own pool (as two processes would be)."""
    first = await open_postgres_store(clock, pool_size=10)
    second = PostgresStateStore(postgres_url(), clock, names=first.names, pool_size=10, operation_timeout=5.0)
    await second.open()
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


async def test_100_concurrent_claims_across_two_instances_have_exactly_one_winner(
    pair: tuple[PostgresStateStore, PostgresStateStore],
) -> None:
    claims = [pair[i % 2].put_if_absent("claim", str(i).encode(), ttl=60) for i in range(100)]
    results = await asyncio.gather(*claims)
    winners = [i for i, won in enumerate(results) if won]
    assert len(winners) == 1
    assert await pair[1].get("claim") == str(winners[0]).encode()


async def test_concurrent_compare_and_set_at_one_version_has_exactly_one_winner(
    pair: tuple[PostgresStateStore, PostgresStateStore],
) -> None:
    await pair[0].put("doc", b"v0")
    current = await pair[1].get_versioned("doc")
    assert current is not None
    writes = [pair[i % 2].compare_and_set("doc", current.version, f"v{i}".encode()) for i in range(1, 41)]
    results = await asyncio.gather(*writes)
    assert results.count(True) == 1
    assert await pair[0].get("doc") == f"v{results.index(True) + 1}".encode()


async def test_read_modify_write_loops_on_two_instances_lose_no_update(
    pair: tuple[PostgresStateStore, PostgresStateStore],
) -> None:
    async def add_one(store: PostgresStateStore) -> None:
        while True:
            current = await store.get_versioned("doc")
            count = 0 if current is None else int(orjson.loads(current.value)["count"])
            version = None if current is None else current.version
            if await store.compare_and_set("doc", version, orjson.dumps({"count": count + 1})):
                return

    await asyncio.gather(*(add_one(pair[i % 2]) for i in range(40)))
    assert orjson.loads(await pair[0].get("doc") or b"{}") == {"count": 40}


async def test_counters_and_timers_are_shared_by_the_instances(
    pair: tuple[PostgresStateStore, PostgresStateStore], clock: ManualClock
) -> None:
    counts = await asyncio.gather(*(pair[i % 2].incr("n", ttl=60) for i in range(100)))
    assert sorted(counts) == list(range(1, 101))
    await pair[0].schedule("timers", "m", clock.now())
    assert await pair[1].due("timers", clock.now()) == [("m", clock.now())]
    unscheduled = await asyncio.gather(pair[0].unschedule("timers", "m"), pair[1].unschedule("timers", "m"))
    assert sorted(unscheduled) == [False, True]


async def test_rows_live_in_the_prefixed_tables_of_the_schema(clock: ManualClock) -> None:
    store = await open_postgres_store(clock, names=TableNames(prefix="tg-x", schema=unique_schema()))
    try:
        await store.put("ns:t:dedup:a", b"v", ttl=10)
        await store.schedule("timers", "m", clock.now())
        async with connection(postgres_url()) as conn:
            row = await conn.fetchrow(f'SELECT key, value, expires_at FROM "{store.names.schema}"."tg-x_kv"')
            timer = await conn.fetchval(
                f'SELECT convert_from(member, \'UTF8\') FROM "{store.names.schema}"."tg-x_schedule"'
            )
        assert row is not None
        assert (bytes(row["key"]).decode(), row["value"], timer) == ("ns:t:dedup:a", b"v", "m")
        assert (row["expires_at"] - clock.now()).total_seconds() == 10
    finally:
        await store.close()


async def test_prefixes_keep_deployments_apart_in_one_schema(clock: ManualClock) -> None:
    first = await open_postgres_store(clock, names=TableNames(prefix="blue", schema=unique_schema()))
    second = PostgresStateStore(
        postgres_url(), clock, names=TableNames(prefix="green", schema=first.names.schema)
    )
    await second.open()
    try:
        await first.put("k", b"blue")
        assert await second.get("k") is None
        assert await second.put_if_absent("k", b"green") is True
        assert (await first.get("k"), await second.get("k")) == (b"blue", b"green")
    finally:
        await second.close()
        await first.close()


async def test_any_key_round_trips_and_scans_in_code_point_order(clock: ManualClock) -> None:
    store = await open_postgres_store(clock)
    try:
        keys = ["d:nul\x00x", "d:lone\ud800surrogate", "d:\U0001f600", "d:\uffff", "d:é", "d:a"]
        for key in keys:
            await store.put(key, key.encode("utf-8", "surrogatepass"))
            assert await store.get(key) == key.encode("utf-8", "surrogatepass")
        page = await store.scan("d:")
        assert [key for key, _ in page.items] == sorted(keys)
        assert await store.put_if_absent("d:nul\x00x", b"again") is False
        await store.schedule("idx\x00", "member\x00", clock.now())
        assert await store.due("idx\x00", clock.now()) == [("member\x00", clock.now())]
    finally:
        await store.close()


async def test_sweep_deletes_in_batches(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_module, "_SWEEP_BATCH", 3)
    store = await open_postgres_store(clock)
    try:
        for i in range(8):
            await store.put(f"old{i}", b"", ttl=1)
        await store.put("renewed", b"", ttl=100)
        clock.advance(2)
        assert await store.sweep(clock.now()) == 8
        async with connection(postgres_url()) as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {store.names.table('kv')}") == 1
    finally:
        await store.close()


async def test_a_ttl_beyond_the_calendar_never_expires(clock: ManualClock) -> None:
    store = await open_postgres_store(clock)
    try:
        await store.put("k", b"v", ttl=1e12)
        clock.advance(10**9)
        assert await store.get("k") == b"v"
    finally:
        await store.close()
