"""Recurring actions in the state store: read with a version, changed by compare-and-set, listed by scan."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tidegate.recurring.record import RecurringAction
from tidegate.store import keys
from tidegate.store.base import StateStore, scan_values

__all__ = ["RecurringRepository", "Stored"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    action: RecurringAction
    version: int


class RecurringRepository:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def read(self, recurring_id: str) -> Stored | None:
        versioned = await self._store.get_versioned(keys.recurring(recurring_id))
        if versioned is None:
            return None
        action = _decode(versioned.value)
        return None if action is None else Stored(action, versioned.version)

    async def write(self, action: RecurringAction, version: int | None) -> bool:
        """Compare-and-set at ``version`` (None: only if absent); False when another change came first."""
        return await self._store.compare_and_set(
            keys.recurring(action.recurring_id), version, action.encode()
        )

    async def delete(self, recurring_id: str) -> bool:
        return await self._store.delete(keys.recurring(recurring_id))

    async def claim_fire(self, recurring_id: str, occurrence_micros: int, ttl_seconds: float) -> bool:
        """The permanent claim of one occurrence (features.md §17 step 1); never released."""
        key = keys.recurring_fire(recurring_id, occurrence_micros)
        return await self._store.put_if_absent(key, b"1", ttl=ttl_seconds)

    async def scan(self) -> list[RecurringAction]:
        """Every recurring action of every tenant (callers filter and order)."""
        values = scan_values(self._store, keys.recurring_prefix())
        return [action async for value in values if (action := _decode(value)) is not None]


def _decode(value: bytes) -> RecurringAction | None:
    try:
        return RecurringAction.decode(value)
    except (ValueError, KeyError, TypeError):
        log.error("a recurring action in the state store does not decode; ignored")
        return None
