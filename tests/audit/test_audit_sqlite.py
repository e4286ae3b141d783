"""What only the SQLite audit store adds: group commit, sync=false, persistence, indexes, failures."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.audit.audit_samples import make_record
from tidegate.audit.base import AuditQuery
from tidegate.audit.spool import AuditSpool
from tidegate.audit.sqlite import _SCHEMA, SqliteAuditStore
from tidegate.errors import BackendUnavailable
from tidegate.model.audit import AuditRecord


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "audit.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SqliteAuditStore]:
    opened = SqliteAuditStore(db)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def _set_read_only(store: SqliteAuditStore, read_only: bool) -> None:
    """Make every write fail with a real SQLite error (and heal it again)."""
    writer = store._writer
    assert writer is not None
    await writer.execute_fetchall(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")


def _count_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        count: int = conn.execute("SELECT count(*) FROM audit_records").fetchone()[0]
    return count


async def test_200_concurrent_appends_share_few_commits(store: SqliteAuditStore) -> None:
    async def append_then_read(record: AuditRecord) -> bool:
        await store.append(record)
        return await store.get(record.action_id) == record

    records = [make_record(i / 1000) for i in range(200)]
    results = await asyncio.gather(*(append_then_read(r) for r in records))
    assert all(results)
    assert store.commits <= 10  # 200 arrive together: the first commits alone, the rest share a few


async def test_a_lone_sequential_client_waits_for_exactly_one_commit_each(store: SqliteAuditStore) -> None:
    for i in range(5):
        await store.append(make_record(i))
        assert store.commits == i + 1


async def test_a_commit_holds_at_most_batch_size_records(db: Path) -> None:
    store = SqliteAuditStore(db, batch_size=10)
    await store.open()
    try:
        await asyncio.gather(*(store.append(make_record(i)) for i in range(100)))
        assert 10 <= store.commits <= 11
        assert (await store.query(AuditQuery(limit=1000))).total == 100
    finally:
        await store.close()


async def test_records_survive_close_and_reopen(db: Path) -> None:
    records = [make_record(i) for i in range(3)]
    first = SqliteAuditStore(db)
    await first.open()
    for record in records:
        await first.append(record)
    await first.close()
    second = SqliteAuditStore(db)
    await second.open()
    try:
        page = await second.query(AuditQuery())
        assert page.records == records[::-1]
        assert await second.get(records[0].action_id) == records[0]
    finally:
        await second.close()


async def test_the_schema_has_the_filter_indexes(store: SqliteAuditStore, db: Path) -> None:
    with sqlite3.connect(db) as conn:
        indexes = {
            row[0]: row[1]
            for row in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT record FROM audit_records WHERE tenant = ?"
            " ORDER BY dispatched_at DESC, id DESC LIMIT 50",
            ("t",),
        ).fetchall()
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    columns = {name: sql[sql.index("(") :] for name, sql in indexes.items()}
    assert set(columns.values()) >= {
        "(tenant, dispatched_at, id)",
        "(namespace, dispatched_at, id)",
        "(action_id)",
        "(chain_id) WHERE chain_id IS NOT NULL",
        "(expires_at) WHERE expires_at IS NOT NULL",
        "(dispatched_at, id)",
    }
    assert any("audit_tenant_time" in str(step) for step in plan)
    assert not any("TEMP B-TREE" in str(step) for step in plan)
    assert journal == "wal"


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (
            "SELECT record FROM audit_records WHERE namespace = ? ORDER BY dispatched_at DESC, id DESC",
            "audit_namespace_time",
        ),
        (
            "SELECT record FROM audit_records WHERE chain_id = ? ORDER BY dispatched_at DESC, id DESC",
            "audit_chain_id_set",
        ),
        (
            "SELECT record FROM audit_records WHERE action_id = ? ORDER BY dispatched_at DESC, id DESC",
            "audit_action_id",
        ),
        ("SELECT rowid FROM audit_records WHERE expires_at <= ? LIMIT 1000", "audit_expiring"),
        (
            "SELECT record FROM audit_records WHERE dispatched_at >= ? ORDER BY dispatched_at DESC, id DESC",
            "audit_time",
        ),
    ],
)
async def test_filters_are_served_by_an_index(
    store: SqliteAuditStore, db: Path, sql: str, index: str
) -> None:
    """The partial indexes serve their filters: ``col = ?`` and ``col <= ?`` imply ``col IS NOT NULL``."""
    with sqlite3.connect(db) as conn:
        plan = " ".join(str(step) for step in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("x",)))
    assert f"INDEX {index}" in plan


async def test_opening_replaces_the_full_chain_and_expiry_indexes(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:  # a file made before the indexes became partial
        conn.executescript(_SCHEMA.split("CREATE INDEX")[0])  # the table as it was and is
        conn.execute("CREATE INDEX audit_chain_id ON audit_records (chain_id)")
        conn.execute("CREATE INDEX audit_expires_at ON audit_records (expires_at)")
    store = SqliteAuditStore(db)
    await store.open()
    await store.close()
    with sqlite3.connect(db) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"audit_chain_id", "audit_expires_at"}.isdisjoint(names)
    assert {"audit_chain_id_set", "audit_expiring"} <= names


async def test_sync_false_returns_before_the_commit_and_close_flushes(db: Path) -> None:
    store = SqliteAuditStore(db, sync=False)
    await store.open()
    for i in range(50):
        await store.append(make_record(i))
    assert store.commits == 0  # nothing awaited a commit: the writer has not even run yet
    await store.close()
    assert _count_rows(db) == 50


async def test_sync_false_flush_waits_for_the_queue(db: Path) -> None:
    store = SqliteAuditStore(db, sync=False)
    await store.open()
    try:
        record = make_record()
        await store.append(record)
        await store.flush()
        assert await store.get(record.action_id) == record
    finally:
        await store.close()


async def test_a_failed_commit_raises_backend_unavailable_and_the_store_recovers(
    store: SqliteAuditStore,
) -> None:
    await _set_read_only(store, True)
    lost = make_record()
    with pytest.raises(BackendUnavailable) as raised:
        await store.append(lost)
    assert "did not commit" in raised.value.message
    await store.ping()  # reads still answer
    await _set_read_only(store, False)
    kept = make_record()
    await store.append(kept)
    assert await store.get(kept.action_id) == kept
    assert await store.get(lost.action_id) is None


async def test_every_waiter_of_a_failed_batch_gets_the_error(store: SqliteAuditStore) -> None:
    await _set_read_only(store, True)
    results = await asyncio.gather(*(store.append(make_record(i)) for i in range(20)), return_exceptions=True)
    assert all(isinstance(result, BackendUnavailable) for result in results)


async def test_sync_false_retries_a_failed_write(db: Path) -> None:
    store = SqliteAuditStore(db, sync=False)
    await store.open()
    try:
        await _set_read_only(store, True)
        record = make_record()
        await store.append(record)
        await asyncio.sleep(0.02)  # at least one attempt fails meanwhile
        assert store.commits == 0
        await _set_read_only(store, False)
        await asyncio.wait_for(store.flush(), timeout=5)
        assert await store.get(record.action_id) == record
    finally:
        await store.close()


async def test_sync_false_spools_what_it_cannot_write_at_close(db: Path, tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path / "audit-spool.jsonl")
    store = SqliteAuditStore(db, sync=False, spool=spool)
    await store.open()
    await _set_read_only(store, True)
    records = [make_record(i) for i in range(3)]
    for record in records:
        await store.append(record)
    await store.close()
    assert len(spool.path.read_bytes().splitlines()) == 3

    reopened = SqliteAuditStore(db)
    await reopened.open()
    try:
        assert await spool.replay(reopened) == 3
        assert (await reopened.query(AuditQuery())).records == records[::-1]
        assert spool.is_empty()
    finally:
        await reopened.close()


async def test_purge_runs_in_several_transactions(store: SqliteAuditStore, db: Path) -> None:
    records = [make_record(i, expires_at=make_record().dispatched_at) for i in range(25)]
    await asyncio.gather(*(store.append(r) for r in records))
    assert await store.purge(records[-1].dispatched_at, batch=10) == 25
    assert _count_rows(db) == 0


async def test_an_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "audit.db").mkdir()
    store = SqliteAuditStore(tmp_path / "audit.db")
    with pytest.raises(BackendUnavailable, match=r"audit\.db"):
        await store.open()
    with pytest.raises(BackendUnavailable, match="not open"):
        await store.append(make_record())
    with pytest.raises(BackendUnavailable, match="not open"):
        await store.ping()
    await store.close()


async def test_a_locked_database_fails_writes_within_the_timeout(db: Path) -> None:
    store = SqliteAuditStore(db, operation_timeout=0.2)
    await store.open()
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(BackendUnavailable):
            await store.append(make_record())
        with pytest.raises(BackendUnavailable):
            await store.purge(make_record().dispatched_at)
        blocker.execute("ROLLBACK")
        await store.append(make_record())
    finally:
        blocker.close()
        await store.close()


async def test_a_closed_store_can_be_opened_again(db: Path) -> None:
    store = SqliteAuditStore(db)
    await store.open()
    await store.close()
    await store.open()
    try:
        record = make_record()
        await store.append(record)
        assert await store.get(record.action_id) == record
    finally:
        await store.close()
