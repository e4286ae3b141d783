"""Apply a track's pending schema steps (``schema.py``), once, however many instances start together.

Fast path: read ``schema_version`` without a lock; when the track is current (every restart after the
first), nothing else happens, and a database user without DDL rights can run Tidegate once an operator
has run ``tidegate migrate``. Otherwise, in one transaction: take a transaction-scoped advisory lock,
create the schema and version table if needed, re-read the applied versions, apply what is still
pending and record each step. Concurrent migrators queue on the lock; the ones behind the first find
nothing left to do. A failure or a timeout rolls everything back (PostgreSQL DDL is transactional) and
the lock goes with the transaction, or with the connection the pool terminates."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import Connection, PgPool
from tidegate.postgres.schema import TRACKS, Step, pending, version_table_sql

__all__ = ["MIGRATION_LOCK_KEY", "MIGRATION_TIMEOUT", "MigrationReport", "migrate", "migrate_pool"]

#: Bound of one migration run, lock wait included: DDL on empty tables takes milliseconds, and an
#: instance that waits behind another's migration should not give up while it still runs.
MIGRATION_TIMEOUT = 30.0

#: Arbitrary 64-bit key ("tidegate" in ASCII): one lock serializes every Tidegate migration in a database,
#: whatever the schema or prefix, so that two prefixes creating one schema cannot race either.
MIGRATION_LOCK_KEY = 0x7469646567617465


@dataclass(frozen=True, slots=True)
class MigrationReport:
    track: str
    names: TableNames
    applied: tuple[Step, ...]
    version: int  # the track's version after the run (0: no step at all)

    def describe(self) -> str:
        """One line for ``tidegate migrate``."""
        where = f"{self.track} ({self.names.describe})"
        if not self.applied:
            return f"{where}: up to date at version {self.version}"
        steps = ", ".join(f"{step.version} {step.name}" for step in self.applied)
        return f"{where}: applied {steps}; now at version {self.version}"


async def migrate(conn: Connection, names: TableNames, track: str) -> MigrationReport:
    """Bring ``track`` up to date on this connection (see the module docstring)."""
    steps = TRACKS[track]
    applied = await _applied_versions(conn, names, track)
    if applied is not None and not pending(steps, applied):
        return MigrationReport(track, names, (), max(applied, default=0))
    async with conn.transaction():
        await conn.execute("SET LOCAL statement_timeout = 0")  # bounded by the caller: lock wait, DDL
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(version_table_sql(names))
        applied = await _applied_versions(conn, names, track) or set()
        todo = pending(steps, applied)
        for step in todo:
            await conn.execute(step.sql(names))
            await conn.execute(
                f"INSERT INTO {names.table('schema_version')} (track, version, name) VALUES ($1, $2, $3)",
                track,
                step.version,
                step.name,
            )
    return MigrationReport(track, names, tuple(todo), max(applied | {s.version for s in todo}, default=0))


async def migrate_pool(
    pool: PgPool, names: TableNames, track: str, *, time_limit: float = MIGRATION_TIMEOUT
) -> MigrationReport:
    """``migrate`` on one of the pool's connections, bounded by ``time_limit`` (lock wait included)."""

    async def run(conn: Connection) -> MigrationReport:
        return await migrate(conn, names, track)

    return await pool.run(run, idempotent=True, time_limit=time_limit)


async def _applied_versions(conn: Connection, names: TableNames, track: str) -> set[int] | None:
    """The versions recorded for ``track``; None when the version table (or the schema) does not exist."""
    try:
        rows = await conn.fetch(
            f"SELECT version FROM {names.table('schema_version')} WHERE track = $1", track
        )
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return None
    return {int(row["version"]) for row in rows}
