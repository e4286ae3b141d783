"""Dedup claims that may exist although the dispatch that wrote them executed nothing (features.md §1, §3).

A claim whose store call failed is in doubt: the dispatch answered 503 and nothing ran, yet a hung Redis or
a PostgreSQL connection lost mid-statement may still apply the write once the backend answers again. Left
alone, that ghost would deduplicate the client's retry for the whole TTL. A claim the gateway could not
release after a failed execution (D9) is in the same state. ``DoubtfulClaims`` remembers each one and
compare-and-deletes it on every ``sweep`` until the store has answered for ``settle`` seconds (a write
still in flight lands within that time); the value is the dispatch's own action id, so nothing but that
claim is ever removed. The gateway also releases a ghost at once when a new claim runs into it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable
from tidegate.store.base import StateStore

__all__ = ["DoubtfulClaims"]

log = logging.getLogger(__name__)

#: Seconds the store must have answered before a doubtful claim is forgotten.
SETTLE_SECONDS = 5.0
#: Claims remembered at most (a long outage at full load); the oldest are forgotten first.
MAX_CLAIMS = 50_000


@dataclass(slots=True)
class _Doubt:
    lapses_at: float  # monotonic: the claim's own TTL has run out, nothing left to release
    answered_at: float | None = None  # monotonic: the first time the store answered a release


class DoubtfulClaims:
    def __init__(self, store: StateStore, clock: Clock, *, settle: float = SETTLE_SECONDS) -> None:
        self._store = store
        self._clock = clock
        self._settle = settle
        self._doubts: dict[tuple[str, bytes], _Doubt] = {}

    def __len__(self) -> int:
        return len(self._doubts)

    def add(self, key: str, claim: bytes, ttl: float) -> None:
        """Remember a claim that may have been written (its store call failed)."""
        if len(self._doubts) >= MAX_CLAIMS:
            oldest = next(iter(self._doubts))
            del self._doubts[oldest]
            log.error("too many doubtful dedup claims: forgetting one, it lapses after its TTL")
        self._doubts[(key, claim)] = _Doubt(self._clock.monotonic() + ttl)

    def holds(self, key: str, claim: bytes) -> bool:
        """Whether ``claim`` at ``key`` is one this process is trying to release."""
        return (key, claim) in self._doubts

    async def release(self, key: str, claim: bytes) -> None:
        """Compare-and-delete one doubtful claim now; raises BackendUnavailable when the store is down."""
        await self._store.delete_if_equals(key, claim)
        doubt = self._doubts.get((key, claim))
        if doubt is not None and doubt.answered_at is None:
            doubt.answered_at = self._clock.monotonic()

    async def sweep(self) -> None:
        """One pass over every doubtful claim (the background loop's tick); stops at the first store
        failure, since the store is down for the rest too."""
        for (key, claim), doubt in list(self._doubts.items()):
            now = self._clock.monotonic()
            if now >= doubt.lapses_at or (
                doubt.answered_at is not None and now - doubt.answered_at >= self._settle
            ):
                self._doubts.pop((key, claim), None)
                continue
            try:
                await self.release(key, claim)
            except BackendUnavailable:
                return
