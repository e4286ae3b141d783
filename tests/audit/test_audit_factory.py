"""open_audit_store builds the configured audit backend (config.md §4.3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.audit.audit_samples import make_record
from tests.postgres.pg_support import connection, scratch_schema
from tidegate.audit.factory import open_audit_store
from tidegate.audit.memory import MemoryAuditStore
from tidegate.audit.postgres import PostgresAuditStore
from tidegate.audit.spool import AuditSpool
from tidegate.audit.sqlite import SqliteAuditStore
from tidegate.clock import ManualClock
from tidegate.errors import ConfigError


@dataclass(frozen=True)
class _Audit:
    enabled: bool = True
    backend: str = "sqlite"
    path: Path | str = Path("./data/audit.db")
    sync: bool = True
    batch_size: int = 256
    queue_size: int = 10_000
    url: str | None = None


@dataclass(frozen=True)
class _Shared:
    key_prefix: str = "tidegate"
    pool_size: int = 10
    operation_timeout_seconds: float = 2.0


async def test_disabled_audit_has_no_store() -> None:
    assert await open_audit_store(_Audit(enabled=False), ManualClock()) is None


async def test_memory_backend() -> None:
    store = await open_audit_store(_Audit(backend="memory"), ManualClock())
    assert isinstance(store, MemoryAuditStore)
    await store.append(make_record())
    await store.close()


async def test_sqlite_backend_with_the_configured_settings(tmp_path: Path) -> None:
    path = tmp_path / "data" / "audit.db"
    store = await open_audit_store(_Audit(path=str(path), batch_size=3), ManualClock())
    try:
        assert isinstance(store, SqliteAuditStore)
        await store.append(make_record())
        assert path.is_file()
    finally:
        if store is not None:
            await store.close()


async def test_sqlite_backend_sync_false_spools_on_failure(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path / "audit-spool.jsonl")
    store = await open_audit_store(_Audit(path=tmp_path / "audit.db", sync=False), ManualClock(), spool=spool)
    assert isinstance(store, SqliteAuditStore)
    writer = store._writer
    assert writer is not None
    await writer.execute_fetchall("PRAGMA query_only = ON")
    await store.append(make_record())
    await store.close()
    assert not spool.is_empty()


async def test_postgres_backend_uses_the_url_and_the_state_prefix() -> None:
    async with scratch_schema() as (url, schema):
        async with connection(url) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in url else "?"
        settings = _Audit(backend="postgres", url=f"{url}{separator}search_path={schema}", batch_size=3)
        store = await open_audit_store(
            settings, ManualClock(), shared=_Shared(key_prefix="tg-b", pool_size=2)
        )
        try:
            assert isinstance(store, PostgresAuditStore)
            record = make_record()
            await store.append(record)
            async with connection(url) as conn:
                assert await conn.fetchval(f'SELECT id FROM "{schema}"."tg-b_audit_records"') == record.id
        finally:
            if store is not None:
                await store.close()


async def test_postgres_backend_needs_a_url() -> None:
    with pytest.raises(ConfigError) as raised:
        await open_audit_store(_Audit(backend="postgres"), ManualClock())
    assert raised.value.problems == ["config: audit.url: required when audit.backend is postgres"]


async def test_other_backends_are_not_in_this_build() -> None:
    with pytest.raises(ConfigError) as raised:
        await open_audit_store(_Audit(backend="cassandra"), ManualClock())
    assert raised.value.problems == ["config: audit.backend: 'cassandra' is not available in this build"]
