"""Build the configured AuditStore (config.md §4.3) and open it, or None when the audit trail is off."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tidegate.audit.base import AuditStore
from tidegate.audit.memory import MemoryAuditStore
from tidegate.audit.postgres import PostgresAuditStore
from tidegate.audit.spool import AuditSpool
from tidegate.audit.sqlite import SqliteAuditStore
from tidegate.clock import Clock
from tidegate.errors import ConfigError
from tidegate.postgres.names import TableNames

__all__ = ["AuditSettingsLike", "SharedSettingsLike", "open_audit_store"]


class AuditSettingsLike(Protocol):
    """The keys of the ``audit`` section this factory reads (``tidegate.config.AuditSettings``).

    ``redact_fields``, ``redact_placeholder`` and ``store_payload`` shape the record before it reaches
    the store (``audit/redact.py``); ``retention_days`` sets its ``expires_at``. The group commit needs no
    ``batch_delay_ms``: a record never waits for more than the commit in progress
    (``tidegate.group_commit``)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def backend(self) -> str: ...

    @property
    def path(self) -> Path | str: ...

    @property
    def sync(self) -> bool: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def queue_size(self) -> int: ...

    @property
    def url(self) -> str | None: ...


class SharedSettingsLike(Protocol):
    """What the ``postgres`` audit store takes from the ``state`` section (config.md §4.2): the table
    prefix that lets deployments share a database, the pool size and the per-call timeout."""

    @property
    def key_prefix(self) -> str: ...

    @property
    def pool_size(self) -> int: ...

    @property
    def operation_timeout_seconds(self) -> float: ...


async def open_audit_store(
    settings: AuditSettingsLike,
    clock: Clock,
    *,
    spool: AuditSpool | None = None,
    shared: SharedSettingsLike | None = None,
) -> AuditStore | None:
    """Raises BackendUnavailable when the store cannot be opened, ConfigError for a backend not built in.

    ``clock`` is for backends that keep time themselves (none of the built-in ones do); ``spool`` takes
    the records an asynchronous (``sync = false``) store still cannot write when it closes; ``shared``
    (the ``state`` section) tunes the ``postgres`` backend, which uses the defaults without it."""
    del clock
    if not settings.enabled:
        return None
    store: MemoryAuditStore | SqliteAuditStore | PostgresAuditStore
    if settings.backend == "memory":
        store = MemoryAuditStore()
    elif settings.backend == "sqlite":
        store = SqliteAuditStore(
            Path(settings.path),
            batch_size=settings.batch_size,
            sync=settings.sync,
            queue_size=settings.queue_size,
            spool=spool,
        )
    elif settings.backend == "postgres":
        store = _postgres(settings, spool, shared)
    else:
        raise ConfigError([f"config: audit.backend: {settings.backend!r} is not available in this build"])
    await store.open()
    return store


def _postgres(
    settings: AuditSettingsLike, spool: AuditSpool | None, shared: SharedSettingsLike | None
) -> PostgresAuditStore:
    if settings.url is None:
        raise ConfigError(["config: audit.url: required when audit.backend is postgres"])
    if shared is None:  # the defaults of the state section
        prefix, pool_size, timeout = "tidegate", 10, 2.0
    else:
        prefix, pool_size, timeout = shared.key_prefix, shared.pool_size, shared.operation_timeout_seconds
    return PostgresAuditStore(
        settings.url,
        names=TableNames(prefix=prefix),
        pool_size=pool_size,
        operation_timeout=timeout,
        batch_size=settings.batch_size,
        sync=settings.sync,
        queue_size=settings.queue_size,
        spool=spool,
    )
