"""Build the configured StateStore (config.md §4.2) and open it, ready for use."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tidegate.clock import Clock
from tidegate.errors import ConfigError
from tidegate.store.base import StateStore
from tidegate.store.memory import MemoryStateStore
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
    raise ConfigError([f"config: state.backend: {settings.backend!r} is not available in this build"])
