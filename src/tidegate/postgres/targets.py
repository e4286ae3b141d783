"""What ``tidegate migrate`` migrates: each configured PostgreSQL backend's track, database and tables.

``state`` when ``state.backend`` is postgres, ``audit`` when the audit trail is on and stored in
postgres, ``events`` when streaming is on with a postgres event log (config.md §4.2-§4.4). All use
``state.key_prefix`` as the table prefix, as the stores do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tidegate.config import Settings
from tidegate.postgres.migrator import migrate_pool
from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import PgPool, describe_url

__all__ = ["Target", "migration_targets", "run_migrations"]


@dataclass(frozen=True, slots=True)
class Target:
    track: str
    url: str
    names: TableNames


def migration_targets(settings: Settings) -> list[Target]:
    names = TableNames(prefix=settings.state.key_prefix)
    targets = []
    if settings.state.backend == "postgres" and settings.state.url is not None:
        targets.append(Target("state", settings.state.url, names))
    audit = settings.audit
    if audit.enabled and audit.backend == "postgres" and audit.url is not None:
        targets.append(Target("audit", audit.url, names))
    stream = settings.stream
    if stream.enabled and settings.stream_backend == "postgres" and stream.url is not None:
        targets.append(Target("events", stream.url, names))
    return targets


async def run_migrations(
    targets: list[Target], operation_timeout: float, report: Callable[[str], None]
) -> None:
    """Migrate each target in turn over a one-connection pool, reporting one line per target.

    Raises BackendUnavailable at the first database that does not answer (or refuses a step)."""
    for target in targets:
        pool = PgPool(target.url, size=1, timeout=operation_timeout, role=f"{target.track} store")
        await pool.open()
        try:
            result = await migrate_pool(pool, target.names, target.track)
        finally:
            await pool.close()
        report(f"{describe_url(target.url)}: {result.describe()}")
