"""The latency floor of sequential dispatch: the backends' own round trips, measured in the same run.

A sequential dispatch with no rules waits for the writes on its path: the event log append (Redis, or a
PostgreSQL commit when state is in PostgreSQL, since the event log follows the state backend) and the
audit commit (PostgreSQL). The two run side by side, so the dispatch waits for the slower; with both in
PostgreSQL they are one transaction, so one commit. Measuring those round trips alone, with the drivers
Tidegate uses and nothing of Tidegate around them, gives the best a sequential loop could do on this
machine: a durable PostgreSQL commit waits for the WAL flush, so the disk's fsync latency bounds every
sequential figure with a PostgreSQL audit trail, however fast the code around it is."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from _backends_config import Combo, Namespace
from tidegate.store.redis_pool import new_redis_pool

__all__ = ["Floor", "ceiling", "measure_floor", "waits"]

SAMPLES = 500


@dataclass(frozen=True, slots=True)
class Floor:
    """Mean wall time of one sequential round trip, in µs; None where the service was not measured."""

    redis_us: float | None
    postgres_commit_us: float | None


def waits(combo: Combo, audit_sync: bool = True) -> tuple[int, int]:
    """(Redis round trips, PostgreSQL commits) one sequential dispatch without rules waits for, side by
    side (the Recorder's ``overlap``); with ``audit.sync`` false it does not wait for the audit commit,
    and with both in PostgreSQL the record commits with the events (the Recorder's ``joint``)."""
    redis = 1 if combo.state == "redis" else 0  # the event log append
    commits = 1 if combo.state == "postgres" or (combo.audit == "postgres" and audit_sync) else 0
    return redis, commits


def ceiling(combo: Combo, floor: Floor, audit_sync: bool = True) -> float | None:
    """Sequential actions/s if a dispatch cost nothing but the slowest of its round trips; None without
    a shared backend on the path, or when a round trip it needs was not measured."""
    redis, commits = waits(combo, audit_sync)
    if not redis and not commits:
        return None
    if (redis and floor.redis_us is None) or (commits and floor.postgres_commit_us is None):
        return None
    trips = [floor.redis_us if redis else None, floor.postgres_commit_us if commits else None]
    return 1e6 / max(trip for trip in trips if trip is not None)


async def _redis_us(namespace: Namespace, samples: int) -> float:
    """One small SET per round trip, over the pool Tidegate uses (the key is under the run's prefix)."""
    from redis.asyncio import Redis

    pool = new_redis_pool(namespace.redis_url, size=1, timeout=2.0, client_name="tidegate-bench-floor")
    client = Redis(connection_pool=pool)
    key = f"{namespace.key_prefix}:floor"
    try:
        for _ in range(50):
            await client.set(key, b"x")
        started = time.perf_counter()
        for _ in range(samples):
            await client.set(key, b"x")
        return (time.perf_counter() - started) / samples * 1e6
    finally:
        await client.aclose()
        await pool.disconnect()


async def _commit_us(namespace: Namespace, samples: int) -> float:
    """One single-row INSERT per transaction (autocommit), so each waits for its WAL flush."""
    conn = await asyncpg.connect(namespace.scoped_postgres_url, timeout=5)
    try:
        await conn.execute("CREATE TABLE floor_probe (id bigint PRIMARY KEY, body bytea)")
        insert = "INSERT INTO floor_probe (id, body) VALUES ($1, $2)"
        for i in range(50):
            await conn.execute(insert, -1 - i, b"x")
        started = time.perf_counter()
        for i in range(samples):
            await conn.execute(insert, i, b"x")
        return (time.perf_counter() - started) / samples * 1e6
    finally:
        await conn.execute("DROP TABLE IF EXISTS floor_probe")
        await conn.close()


async def measure_floor(namespace: Namespace, services: frozenset[str], samples: int = SAMPLES) -> Floor:
    """Round trips to the ``services`` (``redis``, ``postgres``) in use; call inside ``isolated``."""
    redis = await _redis_us(namespace, samples) if "redis" in services else None
    commit = await _commit_us(namespace, samples) if "postgres" in services else None
    return Floor(redis, commit)
