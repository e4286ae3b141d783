"""What only the PostgreSQL audit store adds: group commit over a pool, an index for every query filter,
several instances on one table, sync=false, and outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.audit.audit_samples import make_record
from tests.postgres.pg_support import (
    DisposablePostgresAuditStore,
    connection,
    open_postgres_audit_store,
    postgres_url,
    unique_schema,
)
from tests.postgres.tcp_proxy import TcpProxy
from tidegate.audit.base import AuditQuery
from tidegate.audit.postgres import PostgresAuditStore
from tidegate.audit.spool import AuditSpool
from tidegate.errors import BackendUnavailable
from tidegate.model.audit import AuditRecord
from tidegate.postgres.names import TableNames

FILTERS = [
    "namespace",
    "tenant",
    "provider",
    "action_type",
    "matched_rule",
    "caller_id",
    "chain_id",
    "outcome",
]
FILTERS += ["verdict", "action_id"]


@pytest.fixture
async def store() -> AsyncIterator[DisposablePostgresAuditStore]:
    opened = await open_postgres_audit_store()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(postgres_url())
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


async def _through(proxy: TcpProxy, **options: object) -> DisposablePostgresAuditStore:
    store = DisposablePostgresAuditStore(
        proxy.url, names=TableNames(schema=unique_schema()), pool_size=2, **options
    )
    await store.open()
    store.url = postgres_url()  # the schema is dropped directly, whatever the proxy does
    return store


async def _count(store: PostgresAuditStore) -> int:
    async with connection(postgres_url()) as conn:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {store.names.table('audit_records')}")
    return count


async def test_200_concurrent_appends_share_few_commits(store: PostgresAuditStore) -> None:
    async def append_then_read(record: AuditRecord) -> bool:
        await store.append(record)
        return await store.get(record.action_id) == record

    records = [make_record(i / 1000) for i in range(200)]
    assert all(await asyncio.gather(*(append_then_read(r) for r in records)))
    assert store.commits <= 10  # 200 arrive together: they share a few transactions, not 200
    assert await _count(store) == 200


async def test_a_lone_sequential_client_waits_for_exactly_one_commit_each(store: PostgresAuditStore) -> None:
    for i in range(5):
        await store.append(make_record(i))
        assert store.commits == i + 1


async def test_a_commit_holds_at_most_batch_size_records() -> None:
    store = await open_postgres_audit_store(batch_size=10)
    try:
        await asyncio.gather(*(store.append(make_record(i)) for i in range(100)))
        assert 10 <= store.commits <= 11
        assert (await store.query(AuditQuery(limit=1000))).total == 100
    finally:
        await store.close()


@pytest.mark.parametrize("column", FILTERS)
async def test_every_filter_is_served_by_an_index_in_newest_first_order(
    store: PostgresAuditStore, column: str
) -> None:
    table = store.names.table("audit_records")
    async with connection(postgres_url()) as conn:
        await conn.execute("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                f"EXPLAIN SELECT record FROM {table} WHERE {column} = 'x'"
                " ORDER BY dispatched_at DESC, id DESC LIMIT 50"
            )
        )
    assert f"Index Scan Backward using tidegate_audit_{column} " in plan, plan
    assert "Sort" not in plan, plan


async def test_time_ranges_and_retention_are_served_by_indexes(store: PostgresAuditStore) -> None:
    table = store.names.table("audit_records")
    async with connection(postgres_url()) as conn:
        await conn.execute("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
        ranged = await conn.fetch(
            f"EXPLAIN SELECT record FROM {table} WHERE dispatched_at >= now() - interval '1 day'"
            " ORDER BY dispatched_at DESC, id DESC LIMIT 50"
        )
        expired = await conn.fetch(f"EXPLAIN SELECT id FROM {table} WHERE expires_at <= now() LIMIT 1000")
    assert "tidegate_audit_time" in str(ranged) and "Sort" not in str(ranged)
    assert "tidegate_audit_expires_at" in str(expired)


async def test_two_instances_share_the_trail(store: DisposablePostgresAuditStore) -> None:
    other = PostgresAuditStore(postgres_url(), names=store.names, pool_size=2)
    await other.open()
    try:
        records = [make_record(i) for i in range(40)]
        await asyncio.gather(*((store, other)[i % 2].append(r) for i, r in enumerate(records)))
        await asyncio.gather(store.append(records[0]), other.append(records[0]))  # an id is stored once
        assert (await other.query(AuditQuery(limit=100))).records == records[::-1]
        assert (await store.query(AuditQuery(limit=100))).total == 40
    finally:
        await other.close()


async def test_a_payload_jsonb_would_refuse_round_trips(store: PostgresAuditStore) -> None:
    record = make_record(action_payload={"nul": "a\u0000b"})  # jsonb refuses \u0000
    await store.append(record)
    assert await store.get(record.action_id) == record


async def test_a_filter_value_text_cannot_hold_matches_nothing(store: PostgresAuditStore) -> None:
    await store.append(make_record())
    page = await store.query(AuditQuery(tenant="tenant-1\x00"))
    assert (page.records, page.total) == ([], 0)


async def test_appends_fail_fast_while_the_server_is_down_then_recover(proxy: TcpProxy) -> None:
    store = await _through(proxy, operation_timeout=60.0)
    try:
        await store.append(make_record())
        await proxy.stop()
        lost = make_record()
        async with asyncio.timeout(10):
            with pytest.raises(BackendUnavailable, match="did not commit"):
                await store.append(lost)
            with pytest.raises(BackendUnavailable):
                await store.query(AuditQuery())
            with pytest.raises(BackendUnavailable):
                await store.ping()
        await proxy.start()
        kept = make_record()
        await store.append(kept)
        assert await store.get(kept.action_id) == kept
        assert await store.get(lost.action_id) is None
        assert (await store.query(AuditQuery())).total == 2
    finally:
        await store.close()


async def test_sync_false_retries_until_the_server_is_back(proxy: TcpProxy) -> None:
    store = await _through(proxy, sync=False, operation_timeout=0.5)
    try:
        await proxy.stop()
        record = make_record()
        await store.append(record)  # queued: returns although nothing can be written
        await proxy.start()
        await asyncio.wait_for(store.flush(), timeout=10)
        assert await store.get(record.action_id) == record
    finally:
        await store.close()


async def test_sync_false_spools_what_it_cannot_write_at_close(proxy: TcpProxy, tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path / "audit-spool.jsonl")
    store = await _through(proxy, sync=False, spool=spool, operation_timeout=0.5)
    await proxy.stop()
    records = [make_record(i) for i in range(3)]
    for record in records:
        await store.append(record)
    await store.close()
    assert len(spool.path.read_bytes().splitlines()) == 3


async def test_a_commit_whose_answer_was_lost_is_retried_without_a_duplicate_error(proxy: TcpProxy) -> None:
    """The first attempt goes out without ON CONFLICT; the retry on a fresh connection must skip the
    record the lost attempt committed, not fail on it."""
    store = await _through(proxy)
    try:
        first, second = make_record(0), make_record(1)
        await store.append(first)
        proxy.lose_next_answer()
        await store.append(second)
        page = await store.query(AuditQuery())
        assert sorted(record.id for record in page.records) == sorted([first.id, second.id])
    finally:
        await store.close()
