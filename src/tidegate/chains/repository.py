"""Chain runs in the state store: one versioned key per run holding its state and its history.

Every change is one compare-and-set of the whole value, so the entries a change appends land atomically
with it, from any instance, with dense ``seq``. Terminal runs carry a TTL that ends their retention
(``chains.completed_retention_seconds``); ``load`` also hides a run past retention on backends that
expire lazily."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError

from tidegate.chains.run import ChainRun
from tidegate.clock import Clock
from tidegate.store import keys
from tidegate.store.base import StateStore, scan_values

__all__ = ["ChainRepository", "StoredRun"]

log = logging.getLogger(__name__)

#: The shortest TTL written for a terminal run (retention 0: gone at once, but never a zero TTL).
_MIN_TTL = 1.0


@dataclass(frozen=True, slots=True)
class StoredRun:
    run: ChainRun
    version: int


#: ``change(current)``: the run after the change, or None to leave it as it is.
Change = Callable[[ChainRun], ChainRun | None]


class ChainRepository:
    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        *,
        retention_seconds: float,
        appended: Callable[[str], None] | None = None,
    ) -> None:
        """``appended(chain_id)`` is called after every write that lands (the per-execution streams'
        wake-up, ``ExecutionWatch.notify``)."""
        self._store = store
        self._clock = clock
        self._retention = retention_seconds
        self._appended = appended

    async def load(self, chain_id: str) -> ChainRun | None:
        """The run, or None when unknown, malformed or past retention; BackendUnavailable when down."""
        stored = await self.read(chain_id)
        return None if stored is None else stored.run

    async def read(self, chain_id: str) -> StoredRun | None:
        versioned = await self._store.get_versioned(keys.chain_run(chain_id))
        if versioned is None:
            return None
        run = _decode(versioned.value)
        if run is None or self._expired(run):
            return None
        return StoredRun(run, versioned.version)

    async def create(self, run: ChainRun) -> bool:
        """Store a new run; False if its id exists (ids are UUIDv7: never, in practice)."""
        landed = await self._store.compare_and_set(keys.chain_run(run.chain_id), None, run.encode())
        if landed:
            self._notify(run.chain_id)
        return landed

    async def write(self, stored: StoredRun, run: ChainRun) -> bool:
        """Compare-and-set at ``stored.version``; False when another change came first."""
        landed = await self._store.compare_and_set(
            keys.chain_run(run.chain_id), stored.version, run.encode(), ttl=self._ttl(run)
        )
        if landed:
            self._notify(run.chain_id)
        return landed

    async def update(self, chain_id: str, change: Change) -> tuple[ChainRun, ChainRun] | None:
        """Apply ``change`` by compare-and-set until it lands: ``(before, after)``, or None when the run is
        gone or ``change`` declined. ``change`` must be pure: it may run more than once."""
        while True:
            stored = await self.read(chain_id)
            if stored is None:
                return None
            after = change(stored.run)
            if after is None:
                return None
            if await self.write(stored, after):
                return stored.run, after

    async def scan(self) -> list[ChainRun]:
        """Every live run of every tenant (callers filter and order)."""
        values = scan_values(self._store, keys.chain_runs_prefix())
        return [
            run async for value in values if (run := _decode(value)) is not None and not self._expired(run)
        ]

    async def claim_start(self, chain_id: str, start: int, owner: bytes, lease_seconds: float) -> bool:
        """Take the lease of the run's ``start``-th attempt; True for exactly one caller cluster-wide."""
        return await self._store.put_if_absent(keys.chain_lease(chain_id, start), owner, ttl=lease_seconds)

    async def renew_start(self, chain_id: str, start: int, owner: bytes, lease_seconds: float) -> None:
        await self._store.put(keys.chain_lease(chain_id, start), owner, ttl=lease_seconds)

    async def start_held(self, chain_id: str, start: int) -> bool:
        """Whether the attempt's lease is still held (its holder is alive and renewing)."""
        return await self._store.get(keys.chain_lease(chain_id, start)) is not None

    async def release_start(self, chain_id: str, start: int, owner: bytes) -> None:
        await self._store.delete_if_equals(keys.chain_lease(chain_id, start), owner)

    def _ttl(self, run: ChainRun) -> float | None:
        if not run.terminal or run.completed_at is None:
            return None
        ends = run.completed_at + timedelta(seconds=self._retention)
        return max(_MIN_TTL, (ends - self._clock.now()).total_seconds())

    def _expired(self, run: ChainRun) -> bool:
        if not run.terminal or run.completed_at is None:
            return False
        return self._clock.now() >= run.completed_at + timedelta(seconds=self._retention)

    def _notify(self, chain_id: str) -> None:
        if self._appended is not None:
            self._appended(chain_id)


def _decode(value: bytes) -> ChainRun | None:
    try:
        return ChainRun.decode(value)
    except (ValueError, KeyError, TypeError, ValidationError):
        log.error("a chain run in the state store does not decode; ignored")
        return None
