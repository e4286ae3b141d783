"""SQLite AuditStore: group-committed appends on a writer connection, queries on a reader connection.

One table holds a column per filter of api.md §5.2 plus the whole record as JSON. ``dispatched_at`` and
``expires_at`` are integer microseconds, so ordering and range bounds use plain indexes. ``chain_id``
and ``expires_at`` are indexed only where set (partial indexes: most records belong to no chain, and
none expire with retention off), so an append updates fewer indexes; ``chain_id = ?`` and
``expires_at <= ?`` imply ``IS NOT NULL``, so SQLite still serves them from those indexes. Two
connections because WAL lets readers run beside the writer: a query never waits for a commit, and never
sees rows of a transaction that has not committed yet. The writer connection is shared by the group
commit and ``purge`` under one lock, so their transactions never interleave."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import aiosqlite

from tidegate.audit.base import AuditPage, AuditQuery
from tidegate.audit.scope import Placeholder, scope_sql
from tidegate.audit.spool import AuditSpool
from tidegate.errors import BackendUnavailable
from tidegate.group_commit import GroupCommitter
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import Grant
from tidegate.model.json import loads
from tidegate.model.time import to_micros
from tidegate.store.sqlite_file import open_connection

__all__ = ["SqliteAuditStore"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    id TEXT NOT NULL UNIQUE,
    action_id TEXT NOT NULL,
    chain_id TEXT,
    namespace TEXT NOT NULL,
    tenant TEXT NOT NULL,
    provider TEXT NOT NULL,
    action_type TEXT NOT NULL,
    verdict TEXT NOT NULL,
    matched_rule TEXT,
    outcome TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    dispatched_at INTEGER NOT NULL,
    expires_at INTEGER,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_tenant_time ON audit_records (tenant, dispatched_at, id);
CREATE INDEX IF NOT EXISTS audit_namespace_time ON audit_records (namespace, dispatched_at, id);
CREATE INDEX IF NOT EXISTS audit_action_id ON audit_records (action_id);
DROP INDEX IF EXISTS audit_chain_id;
CREATE INDEX IF NOT EXISTS audit_chain_id_set ON audit_records (chain_id) WHERE chain_id IS NOT NULL;
DROP INDEX IF EXISTS audit_expires_at;
CREATE INDEX IF NOT EXISTS audit_expiring ON audit_records (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_time ON audit_records (dispatched_at, id);
"""

_COLUMNS = (
    "id, action_id, chain_id, namespace, tenant, provider, action_type, verdict, matched_rule, outcome,"
    " caller_id, dispatched_at, expires_at, record"
)
# OR IGNORE: a record id already stored (a spool replay after a commit that timed out) is written once.
_INSERT = f"INSERT OR IGNORE INTO audit_records ({_COLUMNS}) VALUES ({', '.join('?' * 14)})"
_ORDER = "ORDER BY dispatched_at DESC, id DESC"
_GET = f"SELECT record FROM audit_records WHERE action_id = ? {_ORDER} LIMIT 1"
_GET_SCOPED = f"SELECT record FROM audit_records WHERE action_id = ? AND {{}} {_ORDER} LIMIT 1"
_PURGE = (
    "DELETE FROM audit_records WHERE rowid IN (SELECT rowid FROM audit_records WHERE expires_at <= ? LIMIT ?)"
)
#: AuditQuery fields matched exactly, each against the column of the same name.
_FILTERS = (
    "namespace",
    "tenant",
    "provider",
    "action_type",
    "matched_rule",
    "caller_id",
    "chain_id",
    "outcome",
    "verdict",
)

_Row = tuple[object, ...]
_Queued = tuple[AuditRecord, _Row]


class SqliteAuditStore:
    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 256,
        sync: bool = True,
        queue_size: int = 10_000,
        operation_timeout: float = 5.0,
        spool: AuditSpool | None = None,
    ) -> None:
        """``spool`` receives what ``sync=False`` could not write by ``close`` (else it is lost, logged)."""
        self._path = path
        self._timeout = operation_timeout
        self._spool = spool
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._committer: GroupCommitter[_Queued] = GroupCommitter(
            self._write_batch,
            batch_size=batch_size,
            sync=sync,
            queue_size=queue_size,
            on_unwritten=self._spool_unwritten,
            name="audit",
        )

    @property
    def commits(self) -> int:
        """Transactions committed by the group commit so far."""
        return self._committer.commits

    async def open(self) -> None:
        """Create the parent directory and the schema, then start the group-commit writer."""
        if self._writer is not None:
            return
        try:
            async with asyncio.timeout(max(self._timeout, 5.0)):
                writer = await open_connection(self._path, _SCHEMA, self._timeout, autocommit=False)
                try:
                    reader = await open_connection(self._path, _SCHEMA, self._timeout, autocommit=True)
                except BaseException:
                    await writer.close()
                    raise
        except (sqlite3.Error, OSError, ValueError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        self._writer, self._reader = writer, reader
        self._committer.start()

    async def append(self, record: AuditRecord) -> None:
        """Return once committed (``sync``), or once queued; a record id already stored is ignored."""
        if self._writer is None:
            raise BackendUnavailable(f"audit store {self._path} is not open")
        await self._committer.submit((record, _row(record)))

    def begin_append(self, record: AuditRecord) -> asyncio.Future[None]:
        """``append`` with the record queued, and the writer woken, before this returns."""
        if self._writer is None:
            raise BackendUnavailable(f"audit store {self._path} is not open")
        return self._committer.enqueue((record, _row(record)))

    async def flush(self) -> None:
        """Wait until every record appended so far was committed (for ``sync=False``)."""
        await self._committer.flush()

    async def query(self, query: AuditQuery) -> AuditPage:
        clauses: list[str] = []
        params: list[object] = []
        for name in _FILTERS:
            value = getattr(query, name)
            if value is not None:
                clauses.append(f"{name} = ?")
                params.append(value)
        if query.from_ is not None:
            clauses.append("dispatched_at >= ?")
            params.append(to_micros(query.from_))
        if query.to is not None:
            clauses.append("dispatched_at <= ?")
            params.append(to_micros(query.to))
        scoped = _scope_clause(query.scope, params)
        if scoped is not None:
            clauses.append(scoped)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._read(
            f"SELECT record FROM audit_records {where} {_ORDER} LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        )
        records = [_record(row[0]) for row in rows]
        if len(records) < query.limit and (records or query.offset == 0):
            return AuditPage(records, query.offset + len(records))  # the page reached the end: no count
        counted = await self._read(f"SELECT count(*) FROM audit_records {where}", params)
        return AuditPage(records, int(counted[0][0]))

    async def get(self, action_id: str, scope: tuple[Grant, ...] | None = None) -> AuditRecord | None:
        params: list[object] = [action_id]
        scoped = _scope_clause(scope, params)
        sql = _GET if scoped is None else _GET_SCOPED.format(scoped)
        rows = await self._read(sql, params)
        return _record(rows[0][0]) if rows else None

    async def purge(self, now: datetime, batch: int = 1000) -> int:
        """Delete expired records ``batch`` at a time, one transaction each, so appends interleave."""
        batch = max(1, batch)
        cutoff = to_micros(now)
        deleted = 0
        while True:
            async with self._write_lock:
                writer = self._connection(self._writer)
                try:
                    async with asyncio.timeout(self._timeout):
                        cursor = await writer.execute(_PURGE, (cutoff, batch))
                        count = cursor.rowcount
                        await cursor.close()
                        await writer.commit()
                except (sqlite3.Error, ValueError, TimeoutError) as exc:
                    await self._rollback(writer)
                    raise self._unavailable(exc) from exc
            deleted += count
            if count < batch:
                return deleted

    async def ping(self) -> None:
        if not self._committer.is_running:
            raise BackendUnavailable(f"audit store {self._path} is not open")
        await self._read("SELECT 1", [])

    async def close(self) -> None:
        """Commit what is queued, then close both connections."""
        await self._committer.close()
        writer, reader, self._writer, self._reader = self._writer, self._reader, None, None
        for conn in (writer, reader):
            if conn is not None:
                try:
                    await conn.close()
                except (sqlite3.Error, ValueError) as exc:
                    log.warning("audit store %s: error on close (%s)", self._path, exc)

    async def _write_batch(self, batch: list[_Queued]) -> None:
        """One transaction for the whole batch (called by the group commit)."""
        async with self._write_lock:
            writer = self._connection(self._writer)
            try:
                async with asyncio.timeout(self._timeout):
                    await writer.executemany(_INSERT, [row for _, row in batch])
                    await writer.commit()
            except (sqlite3.Error, ValueError, TimeoutError) as exc:
                await self._rollback(writer)
                raise self._unavailable(exc) from exc

    async def _spool_unwritten(self, batch: list[_Queued]) -> None:
        if self._spool is None:
            log.error(
                "audit store %s unavailable at shutdown: %d queued records lost", self._path, len(batch)
            )
            return
        for record, _ in batch:
            await asyncio.to_thread(self._spool.append, record)
        log.warning("audit store %s unavailable at shutdown: %d records spooled", self._path, len(batch))

    async def _read(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
        reader = self._connection(self._reader)
        try:
            async with asyncio.timeout(self._timeout):
                return list(await reader.execute_fetchall(sql, params))
        except (sqlite3.Error, ValueError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc

    async def _rollback(self, writer: aiosqlite.Connection) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await writer.rollback()
        except (sqlite3.Error, ValueError, TimeoutError):
            log.warning("audit store %s: rollback failed", self._path)

    def _connection(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise BackendUnavailable(f"audit store {self._path} is not open")
        return conn

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return BackendUnavailable(f"audit store {self._path} did not answer ({reason})")


def _row(record: AuditRecord) -> _Row:
    return (
        record.id,
        record.action_id,
        record.chain_id,
        record.namespace,
        record.tenant,
        record.provider,
        record.action_type,
        record.verdict,
        record.matched_rule,
        record.outcome,
        record.caller_id,
        to_micros(record.dispatched_at),
        None if record.expires_at is None else to_micros(record.expires_at),
        record.encode(),
    )


def _record(blob: bytes) -> AuditRecord:
    data = loads(blob)
    if not isinstance(data, dict):
        raise BackendUnavailable("audit store holds a record that is not a JSON object")
    return AuditRecord.from_json(data)


def _scope_clause(scope: tuple[Grant, ...] | None, params: list[object]) -> str | None:
    """G3/G4 as SQL; "starts with" is a range on the tenant (BINARY collation: ``p.`` <= t < ``p/``)."""
    if scope is None:
        return None

    def placeholder(value: object) -> str:
        params.append(value)
        return "?"

    def starts_with(column: str, prefix: str, placeholder: Placeholder) -> str:
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return f"({column} >= {placeholder(prefix)} AND {column} < {placeholder(upper)})"

    return scope_sql(scope, placeholder, starts_with)
