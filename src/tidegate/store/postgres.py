"""PostgreSQL StateStore: an asyncpg pool, every operation one SQL statement (shared by all instances).

One statement is one implicit transaction, and PostgreSQL row locks make each atomic across every
connection of every instance: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`` lets exactly one
claimer create (or take over an expired) key; ``UPDATE ... WHERE version = $n`` re-checks the version
after waiting for a concurrent writer (READ COMMITTED re-evaluation), so a stale compare-and-set fails.
Versions come from one identity sequence, drawn after the row lock is held (``version = DEFAULT``), so
they increase on every write of a key and are never reused. Keys are stored as UTF-8 ``bytea``
(``postgres/schema.py`` says why). Expiry uses the caller's clock (``now`` is a parameter, as in the other
backends), an expired row is invisible to every statement, and ``sweep`` deletes expired rows in batches.
``open`` applies the ``state`` schema steps (``postgres/migrator.py``). Every call is bounded by the
operation timeout; only reads and blind writes are retried after a lost connection (``postgres/pool.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from tidegate.clock import Clock
from tidegate.postgres.migrator import migrate_pool
from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import Connection, PgPool
from tidegate.store.base import ScanPage, Versioned

__all__ = ["PostgresStateStore"]

#: Rows deleted per statement by ``sweep``: short transactions, so writers never queue behind one.
_SWEEP_BATCH = 1000

_LIVE = "(expires_at IS NULL OR expires_at > $2)"  # statements that test liveness take ``now`` as $2


@dataclass(frozen=True, slots=True)
class _Sql:
    get: str
    get_versioned: str
    put: str
    put_if_absent: str
    delete: str
    delete_if_equals: str
    incr: str
    compare_and_set: str
    scan: str
    schedule: str
    due: str
    unschedule: str
    sweep: str


def _statements(names: TableNames) -> _Sql:
    kv, schedule = names.table("kv"), names.table("schedule")
    insert = f"INSERT INTO {kv} AS kv (key, value, expires_at) VALUES ($1, $3, $4)"  # $2 is ``now``
    replace = "value = EXCLUDED.value, version = DEFAULT, expires_at = EXCLUDED.expires_at"
    expired = "(kv.expires_at IS NOT NULL AND kv.expires_at <= $2)"
    # A counter is canonical decimal text: encode(.., 'escape') is the text itself exactly when the bytes
    # are printable ASCII, and the pattern admits no sign on zero, no leading zero, no space. Anything else
    # makes the new value NULL, which NOT NULL turns into a refusal (the same rule as the other backends).
    text = "encode(kv.value, 'escape')"
    counted = f"convert_to(({text}::numeric + $5::numeric)::text, 'UTF8')"
    return _Sql(
        get=f"SELECT value FROM {kv} WHERE key = $1 AND {_LIVE}",
        get_versioned=f"SELECT value, version FROM {kv} WHERE key = $1 AND {_LIVE}",
        put=(
            f"INSERT INTO {kv} AS kv (key, value, expires_at) VALUES ($1, $2, $3)"
            f" ON CONFLICT (key) DO UPDATE SET {replace}"
        ),
        put_if_absent=f"{insert} ON CONFLICT (key) DO UPDATE SET {replace} WHERE {expired} RETURNING 1",
        delete=f"DELETE FROM {kv} WHERE key = $1 RETURNING {_LIVE}",
        delete_if_equals=f"DELETE FROM {kv} WHERE key = $1 AND value = $3 AND {_LIVE} RETURNING 1",
        incr=(
            f"{insert} ON CONFLICT (key) DO UPDATE SET"
            f" value = CASE WHEN {expired} THEN EXCLUDED.value"
            f" WHEN {text} ~ '^(0|-?[1-9][0-9]*)$' THEN {counted} END,"
            f" expires_at = CASE WHEN {expired} THEN EXCLUDED.expires_at ELSE kv.expires_at END,"
            " version = DEFAULT RETURNING value"
        ),
        compare_and_set=(
            f"UPDATE {kv} SET value = $3, version = DEFAULT, expires_at = $4"
            f" WHERE key = $1 AND {_LIVE} AND version = $5 RETURNING 1"
        ),
        scan=f"SELECT key, value FROM {kv} WHERE key >= $1 AND {_LIVE}",
        schedule=(
            f"INSERT INTO {schedule} (idx, member, due_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (idx, member) DO UPDATE SET due_at = EXCLUDED.due_at"
        ),
        due=(
            f"SELECT member, due_at FROM {schedule} WHERE idx = $1 AND due_at <= $2"
            " ORDER BY due_at, member LIMIT $3"
        ),
        unschedule=f"DELETE FROM {schedule} WHERE idx = $1 AND member = $2 RETURNING 1",
        sweep=(
            f"DELETE FROM {kv} WHERE key IN (SELECT key FROM {kv} WHERE expires_at <= $1 LIMIT $2)"
            " AND expires_at <= $1"  # re-checked on a row rewritten meanwhile: a renewed key stays
        ),
    )


class PostgresStateStore:
    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        names: TableNames | None = None,
        pool_size: int = 10,
        operation_timeout: float = 2.0,
    ) -> None:
        self._clock = clock
        self._names = names or TableNames()
        self._sql = _statements(self._names)
        self._pool = PgPool(url, size=pool_size, timeout=operation_timeout, role="state store")

    @property
    def names(self) -> TableNames:
        return self._names

    async def open(self) -> None:
        """Create the pool and bring the schema up to date; idempotent."""
        if self._pool.is_open:
            return
        await self._pool.open()
        try:
            await migrate_pool(self._pool, self._names, "state")
        except BaseException:
            await self._pool.close()
            raise

    async def get(self, key: str) -> bytes | None:
        value = await self._fetchval(self._sql.get, _encode(key), self._clock.now(), idempotent=True)
        return None if value is None else _as_bytes(value)

    async def put(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expires = _expires(self._clock.now(), ttl)
        await self._fetchval(self._sql.put, _encode(key), value, expires, idempotent=True)

    async def delete(self, key: str) -> bool:
        return bool(await self._fetchval(self._sql.delete, _encode(key), self._clock.now()))

    async def put_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now = self._clock.now()
        args = (_encode(key), now, value, _expires(now, ttl))
        return await self._fetchval(self._sql.put_if_absent, *args) == 1

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return await self._fetchval(self._sql.delete_if_equals, _encode(key), self._clock.now(), value) == 1

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        now = self._clock.now()
        args = (_encode(key), now, str(amount).encode(), _expires(now, ttl), amount)
        refused = f"incr: the value at key {key!r} is not an integer"
        return int(_as_bytes(await self._fetchval(self._sql.incr, *args, refused=refused)))

    async def get_versioned(self, key: str) -> Versioned | None:
        rows = await self._fetch(self._sql.get_versioned, _encode(key), self._clock.now())
        return Versioned(bytes(rows[0]["value"]), int(rows[0]["version"])) if rows else None

    async def compare_and_set(
        self, key: str, version: int | None, value: bytes, ttl: float | None = None
    ) -> bool:
        if version is None:
            return await self.put_if_absent(key, value, ttl)
        now = self._clock.now()
        args = (_encode(key), now, value, _expires(now, ttl), version)
        return await self._fetchval(self._sql.compare_and_set, *args) == 1

    async def scan(self, prefix: str, cursor: str | None = None, limit: int = 100) -> ScanPage:
        """``prefix <= key < upper`` is exactly the primary-key range of the keys starting with ``prefix``."""
        limit = max(1, limit)
        start = _encode(prefix)
        sql, args = self._sql.scan, [start, self._clock.now()]
        after = None if cursor is None else _encode(cursor)
        for clause, value in (("key < ", _upper_bound(start)), ("key > ", after)):
            if value is not None:  # separate statements, so each plan gets the index range it can use
                args.append(value)
                sql += f" AND {clause}${len(args)}"
        args.append(limit + 1)
        rows = await self._fetch(f"{sql} ORDER BY key LIMIT ${len(args)}", *args)
        items = [(_decode(row["key"]), bytes(row["value"])) for row in rows[:limit]]
        return ScanPage(items, items[-1][0] if len(rows) > limit else None)

    async def schedule(self, index: str, member: str, due_at: datetime) -> None:
        await self._fetchval(self._sql.schedule, _encode(index), _encode(member), due_at, idempotent=True)

    async def due(self, index: str, now: datetime, limit: int = 100) -> list[tuple[str, datetime]]:
        rows = await self._fetch(self._sql.due, _encode(index), now, max(0, limit))
        return [(_decode(row["member"]), row["due_at"]) for row in rows]

    async def unschedule(self, index: str, member: str) -> bool:
        return await self._fetchval(self._sql.unschedule, _encode(index), _encode(member)) == 1

    async def sweep(self, now: datetime) -> int:
        """Delete expired rows ``_SWEEP_BATCH`` at a time, each batch its own bounded statement."""
        deleted = 0
        while True:

            async def batch(conn: Connection) -> str:
                return await conn.execute(self._sql.sweep, now, _SWEEP_BATCH)

            count = int((await self._pool.run(batch, idempotent=True)).rsplit(" ", 1)[-1])
            deleted += count
            if count < _SWEEP_BATCH:
                return deleted

    async def ping(self) -> None:
        await self._fetchval("SELECT 1", idempotent=True)

    async def close(self) -> None:
        await self._pool.close()

    async def _fetchval(
        self, sql: str, *args: object, idempotent: bool = False, refused: str | None = None
    ) -> object:
        async def op(conn: Connection) -> object:
            return await conn.fetchval(sql, *args)

        return await self._pool.run(op, idempotent=idempotent, refused=refused)

    async def _fetch(self, sql: str, *args: object) -> Sequence[asyncpg.Record]:
        """Reads only: always safe to retry on a fresh connection."""

        async def op(conn: Connection) -> Sequence[asyncpg.Record]:
            return await conn.fetch(sql, *args)

        return await self._pool.run(op, idempotent=True)


def _expires(now: datetime, ttl: float | None) -> datetime | None:
    """``now + ttl`` to the microsecond, as the other backends count; a TTL past year 9999 never expires."""
    if ttl is None:
        return None
    try:
        return now + timedelta(microseconds=round(ttl * 1_000_000))
    except OverflowError:
        return None


def _as_bytes(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytea, got {type(value).__name__}")
    return value


def _encode(text: str) -> bytes:
    """A key as stored: UTF-8, lone surrogates passed through, so byte order stays code-point order."""
    return text.encode("utf-8", "surrogatepass")


def _decode(value: object) -> str:
    return _as_bytes(value).decode("utf-8", "surrogatepass")


def _upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string above every one starting with ``prefix`` (None: there is none).

    UTF-8 never contains 0xFF, so for stored keys this is ``prefix`` with its last byte incremented."""
    head = prefix.rstrip(b"\xff")
    return head[:-1] + bytes([head[-1] + 1]) if head else None
