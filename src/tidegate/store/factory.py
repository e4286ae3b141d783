"""Build the configured StateStore (config.md §4.2) and open it, ready for use."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable, ConfigError
from tidegate.postgres.names import TableNames
from tidegate.store.base import StateStore
from tidegate.store.memory import MemoryStateStore
from tidegate.store.postgres import PostgresStateStore
from tidegate.store.redis import RedisStateStore
from tidegate.store.sqlite import SqliteStateStore

__all__ = ["StateSettingsLike", "open_state_store"]


class StateSettingsLike(Protocol):
    """The keys of the ``state`` section this factory reads (``tidegate.config.StateSettings``)."""

    @property
    def backend(self) -> str: ...

    @property
    def path(self) -> Path | str: ...

    @property
    def operation_timeout_seconds(self) -> float: ...

    @property
    def url(self) -> str | None: ...

    @property
    def key_prefix(self) -> str: ...

    @property
    def pool_size(self) -> int: ...


async def open_state_store(settings: StateSettingsLike, clock: Clock) -> StateStore:
    """Raises BackendUnavailable when the store cannot be opened, ConfigError for a backend not built in."""
    if settings.backend == "memory":
        memory = MemoryStateStore(clock)
        await memory.open()
        return memory
    if settings.backend == "sqlite":
        sqlite = SqliteStateStore(Path(settings.path), clock, settings.operation_timeout_seconds)
        await sqlite.open()
        return sqlite
    if settings.backend == "redis":
        if settings.url is None:
            raise ConfigError(["config: state.url: required when state.backend is redis"])
        redis = RedisStateStore(
            settings.url,
            clock,
            key_prefix=settings.key_prefix,
            pool_size=settings.pool_size,
            operation_timeout=settings.operation_timeout_seconds,
        )
        try:
            await redis.open()
        except BackendUnavailable:
            await redis.close()
            raise
        return redis
    if settings.backend == "postgres":
        if settings.url is None:
            raise ConfigError(["config: state.url: required when state.backend is postgres"])
        postgres = PostgresStateStore(
            settings.url,
            clock,
            names=TableNames(prefix=settings.key_prefix),
            pool_size=settings.pool_size,
            operation_timeout=settings.operation_timeout_seconds,
        )
        await postgres.open()  # closes its pool itself when it cannot open
        return postgres
    raise ConfigError([f"config: state.backend: {settings.backend!r} is not available in this build"])
