"""PostgreSQL AuditStore: group-committed appends over an asyncpg pool, shared by every instance.

One table holds a column per filter of api.md §5.2 plus the whole record as JSON bytes (``bytea``, so any
payload round-trips exactly, even one jsonb would refuse). Each filter has an index ending in
``(dispatched_at, id)``, which serves the match and the newest-first order together; ``dispatched_at``
alone, ``action_id`` (get) and ``expires_at`` (retention) have theirs (``postgres/schema.py``).

A batch of the group commit (``tidegate.group_commit``) is one ``INSERT ... SELECT FROM unnest(...)``: one
statement, so one round trip and one implicit transaction, however many records it holds; a batch of one
(every sequential dispatch) is a plain ``INSERT ... VALUES``, cheaper to encode and to run. A record id
is stored once: a batch first goes out without ``ON CONFLICT (id) DO NOTHING`` (whose speculative
insertion the server pays per row, for the rare record already stored: a replayed spool, a retry), and
only a unique violation, or a retry on a fresh connection, sends the statement with it. Queries and
purges take their own pooled connections and never wait for a commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from tidegate.audit.base import AuditPage, AuditQuery
from tidegate.audit.scope import Placeholder, scope_sql
from tidegate.audit.spool import AuditSpool
from tidegate.errors import BackendUnavailable
from tidegate.group_commit import GroupCommitter
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import Grant
from tidegate.model.json import loads
from tidegate.postgres.migrator import migrate_pool
from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import Connection, PgPool, describe_url

__all__ = ["PostgresAuditStore"]

log = logging.getLogger(__name__)

#: Column name and array type of each ``unnest`` argument, in ``_row`` order.
_COLUMNS = (
    ("id", "text"),
    ("action_id", "text"),
    ("chain_id", "text"),
    ("namespace", "text"),
    ("tenant", "text"),
    ("provider", "text"),
    ("action_type", "text"),
    ("verdict", "text"),
    ("matched_rule", "text"),
    ("outcome", "text"),
    ("caller_id", "text"),
    ("dispatched_at", "timestamptz"),
    ("expires_at", "timestamptz"),
    ("record", "bytea"),
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
_ORDER = "ORDER BY dispatched_at DESC, id DESC"

_Row = tuple[object, ...]
_Queued = tuple[AuditRecord, _Row]


class PostgresAuditStore:
    def __init__(
        self,
        url: str,
        *,
        names: TableNames | None = None,
        pool_size: int = 10,
        operation_timeout: float = 5.0,
        batch_size: int = 256,
        sync: bool = True,
        queue_size: int = 10_000,
        spool: AuditSpool | None = None,
    ) -> None:
        """``spool`` receives what ``sync=False`` could not write by ``close`` (else it is lost, logged)."""
        self._names = names or TableNames()
        self._url = url
        self._where = describe_url(url)
        self._spool = spool
        self._pool = PgPool(url, size=pool_size, timeout=operation_timeout, role="audit store")
        table = self._names.table("audit_records")
        self._table = table
        self._insert = self.insert_sql(1)
        self._insert_one = self.insert_sql(1, single=True)
        self._insert_new = self.insert_sql(1, skip_stored=False)
        self._insert_one_new = self.insert_sql(1, single=True, skip_stored=False)
        self._select_action = f"SELECT record FROM {table} WHERE action_id = $1"
        self._get = f"{self._select_action} {_ORDER} LIMIT 1"
        self._purge = (
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE expires_at <= $1 LIMIT $2)"
        )
        self._committer: GroupCommitter[_Queued] = GroupCommitter(
            self._write_batch,
            batch_size=batch_size,
            sync=sync,
            queue_size=queue_size,
            on_unwritten=self._spool_unwritten,
            name="audit",
        )

    @property
    def names(self) -> TableNames:
        return self._names

    @property
    def database_url(self) -> str:
        """The URL the store connects with (credentials included: never for messages)."""
        return self._url

    def insert_sql(self, first: int, *, single: bool = False, skip_stored: bool = True) -> str:
        """The batch INSERT, its column arrays numbered from ``$first`` (``row`` order), or with
        ``single`` the INSERT of one record taking ``row``'s values themselves. Another statement on the
        same database can embed it (the event log writes a dispatch's record with its events in one
        transaction). ``skip_stored`` False leaves out ``ON CONFLICT DO NOTHING``: cheaper, for a first
        attempt that a unique violation sends back to the full statement."""
        columns = ", ".join(name for name, _ in _COLUMNS)
        skip = " ON CONFLICT DO NOTHING" if skip_stored else ""
        if single:
            values = ", ".join(f"${i}::{kind}" for i, (_, kind) in enumerate(_COLUMNS, start=first))
            return f"INSERT INTO {self._table} ({columns}) VALUES ({values}){skip}"
        arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_COLUMNS, start=first))
        return f"INSERT INTO {self._table} ({columns}) SELECT * FROM unnest({arrays}){skip}"

    @staticmethod
    def row(record: AuditRecord) -> tuple[object, ...]:
        """The values ``insert_sql`` takes for one record, one per column array."""
        return _row(record)

    @property
    def commits(self) -> int:
        """Transactions committed by the group commit so far."""
        return self._committer.commits

    async def open(self) -> None:
        """Create the pool, bring the schema up to date, then start the group-commit writer."""
        if self._pool.is_open:
            return
        await self._pool.open()
        try:
            await migrate_pool(self._pool, self._names, "audit")
        except BaseException:
            await self._pool.close()
            raise
        self._committer.start()

    async def append(self, record: AuditRecord) -> None:
        """Return once committed (``sync``), or once queued; a record id already stored is ignored."""
        if not self._pool.is_open:
            raise BackendUnavailable(f"audit store ({self._where}) is not open")
        await self._committer.submit((record, _row(record)))

    def begin_append(self, record: AuditRecord) -> asyncio.Future[None]:
        """``append`` with the record queued, and the writer woken, before this returns."""
        if not self._pool.is_open:
            raise BackendUnavailable(f"audit store ({self._where}) is not open")
        return self._committer.enqueue((record, _row(record)))

    async def flush(self) -> None:
        """Wait until every record appended so far was committed (for ``sync=False``)."""
        await self._committer.flush()

    async def query(self, query: AuditQuery) -> AuditPage:
        clauses: list[str] = []
        params: list[object] = []

        def where(condition: str, value: object) -> None:
            params.append(value)
            clauses.append(condition.format(f"${len(params)}"))

        for name in _FILTERS:
            value = getattr(query, name)
            if value is not None:
                if "\x00" in value:  # text cannot hold NUL, so no stored value has one: nothing matches
                    return AuditPage([], 0)
                where(f"{name} = {{}}", value)
        if query.from_ is not None:
            where("dispatched_at >= {}", query.from_)
        if query.to is not None:
            where("dispatched_at <= {}", query.to)
        scoped = _scope_clause(query.scope, params)
        if scoped is not None:
            clauses.append(scoped)
        condition = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        n = len(params)
        rows = await self._fetch(
            f"SELECT record FROM {self._table} {condition} {_ORDER} LIMIT ${n + 1} OFFSET ${n + 2}",
            *params,
            query.limit,
            query.offset,
        )
        records = [_record(row["record"]) for row in rows]
        if len(records) < query.limit and (records or query.offset == 0):
            return AuditPage(records, query.offset + len(records))  # the page reached the end: no count
        counted = await self._fetch(f"SELECT count(*) AS n FROM {self._table} {condition}", *params)
        return AuditPage(records, int(counted[0]["n"]))

    async def get(self, action_id: str, scope: tuple[Grant, ...] | None = None) -> AuditRecord | None:
        params: list[object] = [action_id]
        scoped = _scope_clause(scope, params)
        sql = self._get if scoped is None else f"{self._select_action} AND {scoped} {_ORDER} LIMIT 1"
        rows = await self._fetch(sql, *params)
        return _record(rows[0]["record"]) if rows else None

    async def purge(self, now: datetime, batch: int = 1000) -> int:
        """Delete expired records ``batch`` at a time, one short transaction each, so appends interleave."""
        batch = max(1, batch)
        deleted = 0
        while True:

            async def delete(conn: Connection) -> str:
                return await conn.execute(self._purge, now, batch)

            count = int((await self._pool.run(delete, idempotent=True)).rsplit(" ", 1)[-1])
            deleted += count
            if count < batch:
                return deleted

    async def ping(self) -> None:
        if not self._committer.is_running:
            raise BackendUnavailable(f"audit store ({self._where}) is not open")
        await self._fetch("SELECT 1")

    async def close(self) -> None:
        """Commit what is queued, then close the pool."""
        await self._committer.close()
        await self._pool.close()

    async def _write_batch(self, batch: list[_Queued]) -> None:
        """One statement for the whole batch (called by the group commit)."""
        if len(batch) == 1:
            row = batch[0][1]
            await self._pool.execute(self._insert_one, row, idempotent=True, optimistic=self._insert_one_new)
            return
        columns = [list(values) for values in zip(*(row for _, row in batch), strict=True)]
        await self._pool.execute(self._insert, columns, idempotent=True, optimistic=self._insert_new)

    async def _spool_unwritten(self, batch: list[_Queued]) -> None:
        if self._spool is None:
            log.error(
                "audit store (%s) unavailable at shutdown: %d queued records lost", self._where, len(batch)
            )
            return
        for record, _ in batch:
            await asyncio.to_thread(self._spool.append, record)
        log.warning("audit store (%s) unavailable at shutdown: %d records spooled", self._where, len(batch))

    async def _fetch(self, sql: str, *args: object) -> Sequence[asyncpg.Record]:
        async def op(conn: Connection) -> Sequence[asyncpg.Record]:
            return await conn.fetch(sql, *args)

        return await self._pool.run(op, idempotent=True)


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
        record.dispatched_at,
        record.expires_at,
        record.encode(),  # the bytes of dumps(record.to_json()), built once and without format_ts
    )


def _record(blob: object) -> AuditRecord:
    data = loads(blob) if isinstance(blob, bytes) else None
    if not isinstance(data, dict):
        raise BackendUnavailable("audit store holds a record that is not a JSON object")
    return AuditRecord.from_json(data)


def _scope_clause(scope: tuple[Grant, ...] | None, params: list[object]) -> str | None:
    """G3/G4 as SQL with numbered placeholders continuing after ``params``."""
    if scope is None:
        return None

    def placeholder(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    def starts_with(column: str, prefix: str, placeholder: Placeholder) -> str:
        return f"starts_with({column}, {placeholder(prefix)})"

    return scope_sql(scope, placeholder, starts_with)
