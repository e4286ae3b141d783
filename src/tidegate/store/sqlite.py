"""SQLite StateStore: one aiosqlite connection, every operation a single SQL statement.

Single-statement operations (``INSERT ... ON CONFLICT``, ``UPDATE ... WHERE version = ?``,
``DELETE ... WHERE value = ?``) are atomic in SQLite, so concurrent coroutines need no lock. Versions come
from a one-row counter bumped by triggers inside the same statement: they are global, survive restarts
and are never handed out twice, so a stale compare-and-set can never match a recreated key. Instants are
integer microseconds since the epoch; an expired row is invisible to every statement and deleted by
``sweep``. The file is opened by ``sqlite_file`` (WAL, ``synchronous=NORMAL``)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import aiosqlite

from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable, TidegateError
from tidegate.model.time import from_micros, to_micros
from tidegate.store.base import ScanPage, Versioned
from tidegate.store.sqlite_file import open_connection

__all__ = ["SqliteStateStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at);
CREATE TABLE IF NOT EXISTS kv_version (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
INSERT OR IGNORE INTO kv_version (id, last) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS kv_version_on_insert AFTER INSERT ON kv BEGIN
    UPDATE kv_version SET last = NEW.version WHERE id = 1 AND last < NEW.version;
END;
CREATE TRIGGER IF NOT EXISTS kv_version_on_update AFTER UPDATE OF version ON kv BEGIN
    UPDATE kv_version SET last = NEW.version WHERE id = 1 AND last < NEW.version;
END;
CREATE TABLE IF NOT EXISTS schedule (
    idx TEXT NOT NULL,
    member TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    PRIMARY KEY (idx, member)
);
CREATE INDEX IF NOT EXISTS schedule_due ON schedule (idx, due_at, member);
"""

_NEXT_VERSION = "(SELECT last + 1 FROM kv_version WHERE id = 1)"
_LIVE = "(expires_at IS NULL OR expires_at > :now)"
_EXPIRED = "(kv.expires_at IS NOT NULL AND kv.expires_at <= :now)"
_INSERT = f"INSERT INTO kv (key, value, version, expires_at) VALUES (:key, :value, {_NEXT_VERSION}, :expires)"
_REPLACE = "value = excluded.value, version = excluded.version, expires_at = excluded.expires_at"

_PUT = f"{_INSERT} ON CONFLICT (key) DO UPDATE SET {_REPLACE}"
_PUT_IF_ABSENT = f"{_INSERT} ON CONFLICT (key) DO UPDATE SET {_REPLACE} WHERE {_EXPIRED} RETURNING 1"
_GET = f"SELECT value FROM kv WHERE key = :key AND {_LIVE}"
_GET_VERSIONED = f"SELECT value, version FROM kv WHERE key = :key AND {_LIVE}"
_DELETE = f"DELETE FROM kv WHERE key = :key RETURNING {_LIVE}"
_DELETE_IF_EQUALS = f"DELETE FROM kv WHERE key = :key AND value = :value AND {_LIVE} RETURNING 1"
# A value that is not canonical decimal text makes the new value NULL, which NOT NULL turns into an error.
_CURRENT_INT = (
    "CASE WHEN CAST(CAST(kv.value AS TEXT) AS INTEGER) || '' = CAST(kv.value AS TEXT)"
    " THEN CAST(CAST(kv.value AS TEXT) AS INTEGER) END"
)
_INCR = (
    f"{_INSERT} ON CONFLICT (key) DO UPDATE SET"
    f" value = CASE WHEN {_EXPIRED} THEN excluded.value"
    f" ELSE CAST(CAST({_CURRENT_INT} + :amount AS TEXT) AS BLOB) END,"
    f" expires_at = CASE WHEN {_EXPIRED} THEN excluded.expires_at ELSE kv.expires_at END,"
    " version = excluded.version RETURNING value"
)
_CAS = (
    f"UPDATE kv SET value = :value, version = {_NEXT_VERSION}, expires_at = :expires"
    f" WHERE key = :key AND version = :version AND {_LIVE} RETURNING 1"
)
_SWEEP = "DELETE FROM kv WHERE expires_at <= :now"
_SCHEDULE = (
    "INSERT INTO schedule (idx, member, due_at) VALUES (:index, :member, :due)"
    " ON CONFLICT (idx, member) DO UPDATE SET due_at = excluded.due_at"
)
_DUE = (
    "SELECT member, due_at FROM schedule WHERE idx = :index AND due_at <= :now"
    " ORDER BY due_at, member LIMIT :limit"
)
_UNSCHEDULE = "DELETE FROM schedule WHERE idx = :index AND member = :member RETURNING 1"

_Params = Mapping[str, object]


class SqliteStateStore:
    def __init__(self, path: Path, clock: Clock, operation_timeout: float) -> None:
        self._path = path
        self._clock = clock
        self._timeout = operation_timeout
        self._conn: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """Create the parent directory and the schema; idempotent."""
        if self._conn is not None:
            return
        try:
            async with asyncio.timeout(max(self._timeout, 5.0)):
                conn = await open_connection(self._path, _SCHEMA, self._timeout, autocommit=True)
        except (sqlite3.Error, OSError, ValueError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        self._conn = conn

    async def get(self, key: str) -> bytes | None:
        rows = await self._fetch(_GET, {"key": key, "now": self._now_us()})
        return _blob(rows[0][0]) if rows else None

    async def put(self, key: str, value: bytes, ttl: float | None = None) -> None:
        now_us = self._now_us()
        await self._fetch(_PUT, {"key": key, "value": value, "expires": _expires(ttl, now_us)})

    async def delete(self, key: str) -> bool:
        rows = await self._fetch(_DELETE, {"key": key, "now": self._now_us()})
        return bool(rows and rows[0][0])

    async def put_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now_us = self._now_us()
        params = {"key": key, "value": value, "expires": _expires(ttl, now_us), "now": now_us}
        return bool(await self._fetch(_PUT_IF_ABSENT, params))

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return bool(await self._fetch(_DELETE_IF_EQUALS, {"key": key, "value": value, "now": self._now_us()}))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        now_us = self._now_us()
        params = {
            "key": key,
            "value": str(amount).encode(),
            "expires": _expires(ttl, now_us),
            "now": now_us,
            "amount": amount,
        }
        rows = await self._fetch(_INCR, params, not_integer=key)
        return int(_blob(rows[0][0]))

    async def get_versioned(self, key: str) -> Versioned | None:
        rows = await self._fetch(_GET_VERSIONED, {"key": key, "now": self._now_us()})
        return Versioned(_blob(rows[0][0]), int(rows[0][1])) if rows else None

    async def compare_and_set(
        self, key: str, version: int | None, value: bytes, ttl: float | None = None
    ) -> bool:
        if version is None:
            return await self.put_if_absent(key, value, ttl)
        now_us = self._now_us()
        params = {
            "key": key,
            "value": value,
            "version": version,
            "expires": _expires(ttl, now_us),
            "now": now_us,
        }
        return bool(await self._fetch(_CAS, params))

    async def scan(self, prefix: str, cursor: str | None = None, limit: int = 100) -> ScanPage:
        limit = max(1, limit)
        clauses = ["key >= :prefix", "substr(key, 1, :length) = :prefix", _LIVE]
        params: dict[str, object] = {"prefix": prefix, "length": len(prefix), "now": self._now_us()}
        upper = _prefix_upper_bound(prefix)
        if upper is not None:  # lets the primary-key index stop at the end of the prefix range
            clauses.append("key < :upper")
            params["upper"] = upper
        if cursor is not None:
            clauses.append("key > :cursor")
            params["cursor"] = cursor
        params["limit"] = limit + 1
        sql = f"SELECT key, value FROM kv WHERE {' AND '.join(clauses)} ORDER BY key LIMIT :limit"
        rows = await self._fetch(sql, params)
        items = [(str(row[0]), _blob(row[1])) for row in rows[:limit]]
        return ScanPage(items, items[-1][0] if len(rows) > limit else None)

    async def schedule(self, index: str, member: str, due_at: datetime) -> None:
        await self._fetch(_SCHEDULE, {"index": index, "member": member, "due": to_micros(due_at)})

    async def due(self, index: str, now: datetime, limit: int = 100) -> list[tuple[str, datetime]]:
        rows = await self._fetch(_DUE, {"index": index, "now": to_micros(now), "limit": max(0, limit)})
        return [(str(row[0]), from_micros(int(row[1]))) for row in rows]

    async def unschedule(self, index: str, member: str) -> bool:
        return bool(await self._fetch(_UNSCHEDULE, {"index": index, "member": member}))

    async def sweep(self, now: datetime) -> int:
        conn = self._connection()
        try:
            async with asyncio.timeout(self._timeout):
                cursor = await conn.execute(_SWEEP, {"now": to_micros(now)})
                deleted = cursor.rowcount
                await cursor.close()
        except (sqlite3.Error, ValueError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        return int(deleted)

    async def ping(self) -> None:
        await self._fetch("SELECT 1", {})

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except (sqlite3.Error, ValueError) as exc:
                raise self._unavailable(exc) from exc

    async def _fetch(self, sql: str, params: _Params, not_integer: str | None = None) -> list[sqlite3.Row]:
        """Run one statement to completion in one hop to the connection thread, bounded in time.

        The only constraint a statement can break is ``value NOT NULL``, hit when ``incr`` meets a
        value that is not a counter (``not_integer`` names the key)."""
        conn = self._connection()
        try:
            async with asyncio.timeout(self._timeout):
                return list(await conn.execute_fetchall(sql, params))
        except sqlite3.IntegrityError as exc:
            raise TidegateError(f"incr: the value at key {not_integer!r} is not an integer") from exc
        except (sqlite3.Error, ValueError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise BackendUnavailable(f"state store {self._path} is not open")
        return self._conn

    def _now_us(self) -> int:
        return to_micros(self._clock.now())

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return BackendUnavailable(f"state store {self._path} did not answer ({reason})")


def _expires(ttl: float | None, now_us: int) -> int | None:
    return None if ttl is None else now_us + round(ttl * 1_000_000)


def _blob(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()  # a value written by another tool as TEXT or INTEGER


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: there is none)."""
    text = prefix.rstrip("\U0010ffff")
    if not text:
        return None
    code = ord(text[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored as UTF-8
        code = 0xE000
    return text[:-1] + chr(code)
