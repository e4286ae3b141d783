"""Open a SQLite file the way every Tidegate SQLite backend does (state store, audit store).

The file, its WAL mode and its schema are set up synchronously in a worker thread first: if that
fails (unwritable directory, not a database), no aiosqlite connection thread is left behind. Only
then is the aiosqlite connection opened, with ``synchronous=NORMAL`` (a per-connection setting): in
WAL mode a commit then waits for no fsync, and a power failure can lose the last commits but never
consistency."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite

__all__ = ["open_connection", "prepare_database"]


def prepare_database(path: Path, schema: str, busy_timeout: float) -> None:
    """Create the parent directory, the file in WAL mode and ``schema`` (idempotent DDL). Blocking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)
    finally:
        conn.close()


async def open_connection(
    path: Path, schema: str, busy_timeout: float, *, autocommit: bool
) -> aiosqlite.Connection:
    """Prepare the file, then open one aiosqlite connection (``autocommit``: every statement commits).

    ``busy_timeout`` is how long SQLite itself waits for another connection's lock."""
    await asyncio.to_thread(prepare_database, path, schema, busy_timeout)
    conn = await aiosqlite.connect(
        path, isolation_level=None if autocommit else "DEFERRED", timeout=busy_timeout
    )
    try:
        await conn.execute_fetchall("PRAGMA synchronous=NORMAL")
    except BaseException:
        await conn.close()
        raise
    return conn
