"""Group records in the state store (features.md §13): read with a version, changed by compare-and-set.

The store is the only source of truth (no per-process cache), so any instance can add to, list, flush
or close any group. Every change is conditional on the version (or, for a close, the exact value) that
was read, and callers retry on a conflict."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tidegate.groups.record import Group
from tidegate.store import keys
from tidegate.store.base import StateStore, scan_values

__all__ = ["GroupRepository", "Stored"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    """A group as read: its version for ``write`` and its exact bytes for ``close``."""

    group: Group
    version: int
    raw: bytes


class GroupRepository:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def read(self, group_key: str) -> Stored | None:
        """None when absent. A value that does not decode is logged and deleted: it can never flush."""
        key = keys.group(group_key)
        versioned = await self._store.get_versioned(key)
        if versioned is None:
            return None
        group = _decode(versioned.value)
        if group is None:
            await self._store.delete_if_equals(key, versioned.value)
            return None
        return Stored(group, versioned.version, versioned.value)

    async def write(self, group: Group, version: int | None) -> bool:
        """Compare-and-set at ``version`` (None: only if absent); False when another change came first."""
        return await self._store.compare_and_set(keys.group(group.group_key), version, group.encode())

    async def close(self, stored: Stored) -> bool:
        """Delete the group unless it changed since ``stored`` was read."""
        return await self._store.delete_if_equals(keys.group(stored.group.group_key), stored.raw)

    async def scan(self) -> list[Group]:
        """Every live group, of every tenant (the list endpoint filters and orders them)."""
        values = scan_values(self._store, keys.groups_prefix())
        return [group async for value in values if (group := _decode(value)) is not None]


def _decode(value: bytes) -> Group | None:
    try:
        return Group.decode(value)
    except (ValueError, KeyError, TypeError):
        log.error("a group record in the state store does not decode; ignored")
        return None
