"""Event records in the state store (features.md §14): read with a version, written by compare-and-set.

The store is the only source of truth, so any instance can read, list, move or time out any event. A
record expires ``retention_seconds`` after its last write (every write sets the TTL again)."""

from __future__ import annotations

import logging

from tidegate.state_machines.record import EventRecord
from tidegate.store import keys
from tidegate.store.base import StateStore, scan_values

__all__ = ["EventStates"]

log = logging.getLogger(__name__)


class EventStates:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def read(
        self, namespace: str, tenant: str, fingerprint: str
    ) -> tuple[EventRecord | None, int | None]:
        """The record and its version for ``write``; (None, None) when absent.

        A value that does not decode is logged and read as absent *with* its version, so the next write
        replaces it instead of retrying against it forever."""
        versioned = await self._store.get_versioned(keys.event_state(namespace, tenant, fingerprint))
        if versioned is None:
            return None, None
        return _decode(versioned.value), versioned.version

    async def get(self, namespace: str, tenant: str, fingerprint: str) -> EventRecord | None:
        record, _ = await self.read(namespace, tenant, fingerprint)
        return record

    async def write(self, record: EventRecord, version: int | None, ttl: float) -> bool:
        """Compare-and-set at ``version`` (None: only if absent); False when another write came first."""
        key = keys.event_state(record.namespace, record.tenant, record.fingerprint)
        return await self._store.compare_and_set(key, version, record.encode(), ttl)

    async def scan(self, namespace: str | None = None, tenant: str | None = None) -> list[EventRecord]:
        """Every live record of ``namespace`` (and ``tenant``), or of all; a tenant alone is filtered here,
        since keys are ordered namespace first."""
        prefix = keys.event_states(namespace, tenant if namespace is not None else None)
        records: list[EventRecord] = []
        async for value in scan_values(self._store, prefix):
            record = _decode(value)
            if record is not None and (tenant is None or record.tenant == tenant):
                records.append(record)
        return records


def _decode(value: bytes) -> EventRecord | None:
    try:
        return EventRecord.decode(value)
    except (ValueError, KeyError, TypeError):
        log.error("an event record in the state store does not decode; ignored")
        return None
