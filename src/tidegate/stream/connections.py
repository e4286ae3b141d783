"""SSE connection slots per bucket (stream.md §0.6): which bucket a connection counts in, and the count.

``connection_bucket`` is the pure decision; ``ConnectionSlots`` is the counter behind an async protocol so
a StateStore-backed version (cluster-wide, slots renewed every ``stream.keep_alive_seconds`` and expiring
after three missed renewals) can replace ``LocalConnectionSlots`` without touching a router."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Protocol

from tidegate.errors import TooManyConnections
from tidegate.model.caller import AuthMethod, Caller
from tidegate.stream.grants import WILDCARD

__all__ = [
    "ANONYMOUS_BUCKET_FACTOR",
    "Bucket",
    "ConnectionSlots",
    "LocalConnectionSlots",
    "Slot",
    "connection_bucket",
    "release_slot",
    "take_slot",
]

#: The shared ``anonymous`` bucket (auth disabled, no tenant filter) holds this many per-tenant limits.
ANONYMOUS_BUCKET_FACTOR = 10


@dataclass(frozen=True, slots=True)
class Bucket:
    """Where a connection counts: ``key`` is unique per bucket kind (``tenant:acme``, ``caller:bob``,
    ``anonymous``), so a tenant named like a caller never shares its slots; ``limit`` 0 = unlimited."""

    key: str
    limit: int


@dataclass(frozen=True, slots=True)
class Slot:
    """One held connection slot; give it back with ``ConnectionSlots.release``.

    ``token`` tells slots of one bucket apart (a shared store keys each slot by it to renew or expire it)."""

    bucket: Bucket
    token: int


def connection_bucket(caller: Caller, tenant_filter: str | None, per_tenant_limit: int) -> Bucket:
    """The bucket of a ``/v1/stream`` connection (§0.6).

    Authenticated: the caller's tenant when its grants name exactly one literal tenant, else the
    ``tenant`` filter, else the caller itself. Auth disabled (the anonymous caller): the ``tenant``
    filter, else one shared ``anonymous`` bucket with ten times the limit."""
    if caller.auth_method is AuthMethod.ANONYMOUS:
        if tenant_filter is not None:
            return Bucket(f"tenant:{tenant_filter}", per_tenant_limit)
        return Bucket("anonymous", per_tenant_limit * ANONYMOUS_BUCKET_FACTOR)
    tenants = {pattern for grant in caller.grants for pattern in grant.tenants}
    if len(tenants) == 1 and WILDCARD not in tenants:
        return Bucket(f"tenant:{next(iter(tenants))}", per_tenant_limit)
    if tenant_filter is not None:
        return Bucket(f"tenant:{tenant_filter}", per_tenant_limit)
    return Bucket(f"caller:{caller.caller_id}", per_tenant_limit)


class ConnectionSlots(Protocol):
    """Counts open SSE connections per bucket. ``acquire`` is atomic: two racing connections never both
    take the last slot. Every acquired slot is released exactly once (on disconnect).

    ``LocalConnectionSlots`` counts one process; ``shared_slots.StoreConnectionSlots`` counts the cluster
    (``redis``/``postgres`` state). ``held`` and ``total`` always describe this process's connections."""

    async def acquire(self, bucket: Bucket) -> Slot | None:
        """Take a slot, or ``None`` when the bucket is full (the caller answers 429). Raises
        BackendUnavailable when the store holding the slots does not answer (the caller answers 503)."""
        ...

    async def release(self, slot: Slot) -> None:
        """Give the slot back; a second release of the same slot is a no-op. Never raises."""
        ...

    def held(self, key: str) -> int:
        """Open connections of this process in the bucket ``key``."""
        ...

    @property
    def total(self) -> int:
        """Open connections of this process in every bucket."""
        ...

    async def close(self) -> None:
        """Give back every slot this process holds (shutdown); later releases are no-ops."""
        ...


class LocalConnectionSlots:
    """Per-process counts (memory/SQLite state: one process serves every connection).

    Everything runs on the event loop with no await between the check and the increment, so
    ``acquire`` is atomic without a lock."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._open: set[int] = set()  # tokens not yet released, so a second release is harmless
        self._tokens = itertools.count(1)

    def held(self, key: str) -> int:
        """Open connections in the bucket ``key`` (for tests and diagnostics)."""
        return self._held.get(key, 0)

    @property
    def total(self) -> int:
        """Open connections in every bucket."""
        return sum(self._held.values())

    async def acquire(self, bucket: Bucket) -> Slot | None:
        count = self._held.get(bucket.key, 0)
        if bucket.limit and count >= bucket.limit:
            return None
        self._held[bucket.key] = count + 1
        slot = Slot(bucket, next(self._tokens))
        self._open.add(slot.token)
        return slot

    async def release(self, slot: Slot) -> None:
        if slot.token not in self._open:
            return
        self._open.discard(slot.token)
        key = slot.bucket.key
        count = self._held.get(key, 0) - 1
        if count > 0:
            self._held[key] = count
        else:
            self._held.pop(key, None)

    async def close(self) -> None:
        """Nothing outlives the process: the counts simply go with it."""


async def take_slot(slots: ConnectionSlots, bucket: Bucket) -> Slot:
    """A slot of ``bucket`` for a stream about to open; TooManyConnections (429) when the bucket is full,
    BackendUnavailable (503) when the store holding the slots does not answer."""
    slot = await slots.acquire(bucket)
    if slot is None:
        raise TooManyConnections("too many open stream connections; retry later")
    return slot


async def release_slot(slots: ConnectionSlots, slot: Slot) -> None:
    """Free the slot even when the stream's task is being cancelled (a shared store needs an await)."""
    await asyncio.shield(slots.release(slot))
