"""What only the SQLite backend adds: persistence, file layout, several connections, error translation."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.store.sqlite import SqliteStateStore

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


async def _open(path: Path, clock: ManualClock, operation_timeout: float = 5.0) -> SqliteStateStore:
    store = SqliteStateStore(path, clock, operation_timeout=operation_timeout)
    await store.open()
    return store


async def test_open_creates_the_parent_directory_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "data" / "tidegate.db"
    store = await _open(path, ManualClock())
    await store.close()
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_state_survives_close_and_reopen(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "tidegate.db"
    store = await _open(path, clock)
    await store.put("plain", b"v")
    await store.put("short", b"v", ttl=10)
    await store.incr("counter", 5)
    await store.schedule("timers", "m", T0)
    before = await store.get_versioned("plain")
    await store.put("gone", b"x")
    gone = await store.get_versioned("gone")
    await store.delete("gone")
    await store.close()

    reopened = await _open(path, clock)
    try:
        assert await reopened.get_versioned("plain") == before
        assert await reopened.get("counter") == b"5"
        assert await reopened.due("timers", T0) == [("m", T0)]
        assert await reopened.get("short") == b"v"
        clock.advance(10)
        assert await reopened.get("short") is None  # the TTL survived too
        await reopened.put("gone", b"x")
        again = await reopened.get_versioned("gone")
        assert gone is not None and again is not None and again.version > gone.version
    finally:
        await reopened.close()


async def test_open_twice_is_harmless(tmp_path: Path) -> None:
    store = await _open(tmp_path / "t.db", ManualClock())
    await store.open()
    await store.put("k", b"v")
    assert await store.get("k") == b"v"
    await store.close()
    await store.close()


async def test_two_stores_on_one_file_share_claims_and_versions(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "shared.db"
    one, two = await _open(path, clock), await _open(path, clock)
    try:
        results = await asyncio.gather(
            *(s.put_if_absent("claim", b"x") for s in (one, two) for _ in range(10))
        )
        assert results.count(True) == 1
        await one.put("k", b"a")
        seen = await two.get_versioned("k")
        assert seen is not None
        await two.put("k", b"b")
        assert await one.compare_and_set("k", seen.version, b"stale") is False
        counts = await asyncio.gather(*(s.incr("n") for s in (one, two) for _ in range(20)))
        assert sorted(counts) == list(range(1, 41))
    finally:
        await one.close()
        await two.close()


async def test_a_store_that_is_not_open_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "t.db", ManualClock(), operation_timeout=1.0)
    with pytest.raises(BackendUnavailable, match="not open"):
        await store.get("k")


async def test_an_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    store = SqliteStateStore(tmp_path / "dir.db", ManualClock(), operation_timeout=1.0)
    with pytest.raises(BackendUnavailable, match=r"dir\.db") as raised:
        await store.open()
    assert isinstance(raised.value.__cause__, sqlite3.Error)


async def test_a_locked_database_becomes_backend_unavailable_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = await _open(path, ManualClock(), operation_timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(BackendUnavailable, match="did not answer") as raised:
            await store.put("k", b"v")
        assert raised.value.retryable
        blocker.execute("ROLLBACK")
        await store.put("k", b"v")
        assert await store.get("k") == b"v"
    finally:
        blocker.close()
        await store.close()


async def test_a_slow_statement_is_cut_off_by_the_operation_timeout(tmp_path: Path) -> None:
    store = await _open(tmp_path / "slow.db", ManualClock(), operation_timeout=0.1)
    try:
        slow = (
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50000000)"
            " SELECT count(*) FROM r"
        )
        with pytest.raises(BackendUnavailable, match="timed out"):
            await store._fetch(slow, {})
    finally:
        conn = store._conn
        assert conn is not None
        await conn.interrupt()
        await store.close()


async def test_sweep_runs_on_the_file(tmp_path: Path) -> None:
    clock = ManualClock()
    store = await _open(tmp_path / "s.db", clock)
    try:
        for i in range(10):
            await store.put(f"k{i}", b"", ttl=i + 1)
        assert await store.sweep(clock.now() + timedelta(seconds=5)) == 5
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM kv").fetchone() == (5,)
