"""Cluster-wide SSE connection slots in the StateStore (stream.md §0.6), for ``redis``/``postgres`` state.

Each bucket is one store key holding ``{member: expires_us}``, one member per open connection on any
instance (``<instance id>/<token>``). Acquire, renew and release are read-modify-write loops over
``get_versioned`` and ``compare_and_set``: the count and the check commit together, so two instances racing
for the last slot never both get it (the loser re-reads and sees the bucket full). Nothing beyond the
StateStore contract is needed, so the same code runs on Redis and PostgreSQL (and on the single-process
backends in tests).

A member lapses ``ttl`` (three keep-alive periods) after its last write. One renewal pass per keep-alive
period rewrites every member this process holds, so a live connection never lapses and a crashed
instance's members free themselves. A member this process wrote but no longer holds (an acquire cancelled
while its write was in flight) is dropped by the next pass. Each write carries the bucket's live members,
which the bucket's limit bounds; an unlimited bucket (limit ``0``) holds no slot in the store at all, since
there is nothing to count."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import uuid
from collections.abc import Callable

import orjson

from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable
from tidegate.model.time import to_micros
from tidegate.store import keys
from tidegate.store.base import StateStore
from tidegate.stream.connections import Bucket, ConnectionSlots, LocalConnectionSlots, Slot

__all__ = [
    "RENEWALS_BEFORE_EXPIRY",
    "StoreConnectionSlots",
    "connection_slots_for",
    "live_members",
]

log = logging.getLogger(__name__)

#: A slot outlives this many missed renewals (stream.md §0.6: three).
RENEWALS_BEFORE_EXPIRY = 3
#: Compare-and-set rounds before a write gives up (503); each lost round means another writer won.
_ATTEMPTS = 100
#: Upper bound of the random pause after a lost round, times the round number (capped), in seconds.
_BACKOFF = 0.001
#: Buckets renewed at once in one pass.
_RENEW_CONCURRENCY = 16

#: ``change(members, now_us)`` returns the bucket's new members, or None to leave it (the bucket is full).
_Change = Callable[[dict[str, int], int], dict[str, int] | None]


def live_members(raw: bytes | None, now_us: int) -> dict[str, int]:
    """The members of a stored bucket that have not lapsed; an unreadable value counts as empty."""
    if raw is None:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(member): expires
        for member, expires in data.items()
        if isinstance(expires, int) and expires > now_us
    }


class StoreConnectionSlots:
    def __init__(self, store: StateStore, clock: Clock, *, ttl: float, instance: str | None = None) -> None:
        """``ttl``: seconds a slot survives without renewal; renew at least every ``ttl / 3``."""
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._ttl_us = round(ttl * 1_000_000)
        self._prefix = f"{instance or uuid.uuid4().hex[:16]}/"
        self._tokens = itertools.count(1)
        self._open: dict[int, Slot] = {}
        self._counts: dict[str, int] = {}  # this process's connections per bucket, store-held or not
        self._held: dict[str, set[str]] = {}  # members this process holds in the store, per bucket
        self._pending: dict[str, set[str]] = {}  # members whose acquiring write may be in flight

    def held(self, key: str) -> int:
        return self._counts.get(key, 0)

    @property
    def total(self) -> int:
        return len(self._open)

    async def count(self, key: str) -> int:
        """Live slots of the bucket ``key`` on every instance (diagnostics and tests)."""
        raw = await self._store.get(keys.connection_slots(key))
        return len(live_members(raw, self._now_us()))

    async def acquire(self, bucket: Bucket) -> Slot | None:
        slot = Slot(bucket, next(self._tokens))
        if bucket.limit:
            member = self._member(slot)
            pending = self._pending.setdefault(bucket.key, set())
            pending.add(member)
            try:
                taken = await self._update(bucket.key, _take(member, bucket.limit, self._ttl_us))
            finally:
                pending.discard(member)
                if not pending:
                    del self._pending[bucket.key]
            if not taken:
                return None
            self._held.setdefault(bucket.key, set()).add(member)
        self._open[slot.token] = slot
        self._counts[bucket.key] = self._counts.get(bucket.key, 0) + 1
        return slot

    async def release(self, slot: Slot) -> None:
        """Forgets the slot locally first, so renewal stops at once; if the store does not answer, the
        slot lapses by itself within ``ttl``."""
        if self._open.pop(slot.token, None) is None:
            return
        key = slot.bucket.key
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)
        if not slot.bucket.limit:
            return
        member = self._member(slot)
        members = self._held.get(key)
        if members is not None:
            members.discard(member)
            if not members:
                del self._held[key]
        try:
            await self._update(key, _drop({member}))
        except BackendUnavailable as exc:
            log.warning("SSE connection slot of %s not released (%s); it lapses by itself", key, exc)

    async def renew(self) -> None:
        """One renewal pass over every bucket this process holds slots in; a bucket whose write fails is
        logged and retried on the next pass (its slots lapse only after three missed passes)."""
        limit = asyncio.Semaphore(_RENEW_CONCURRENCY)

        async def renew_bucket(key: str) -> BackendUnavailable | None:
            async with limit:
                try:
                    await self._update(key, self._refresh(key))
                except BackendUnavailable as exc:
                    return exc
                return None

        buckets = list(self._held)
        failures = [exc for exc in await asyncio.gather(*map(renew_bucket, buckets)) if exc is not None]
        if failures:
            log.warning(
                "SSE connection slots: renewal failed for %d of %d buckets (%s)",
                len(failures),
                len(buckets),
                failures[0],
            )

    async def close(self) -> None:
        """Give back every slot of this process (graceful shutdown), so clients reconnecting to another
        instance find them free at once instead of after ``ttl``."""
        held, self._held = self._held, {}
        self._open.clear()
        self._counts.clear()
        for key, members in held.items():
            try:
                await self._update(key, _drop(members))
            except BackendUnavailable as exc:
                log.warning("SSE connection slots of %s not released at shutdown (%s)", key, exc)

    def _refresh(self, key: str) -> _Change:
        """Renew this process's members of ``key``; drop its members it no longer holds."""

        def change(members: dict[str, int], now_us: int) -> dict[str, int]:
            held = self._held.get(key, set())
            pending = self._pending.get(key, set())
            kept = {
                member: expires
                for member, expires in members.items()
                if not member.startswith(self._prefix) or member in pending
            }
            # A member lapsed during an outage is written again: its connection is still open.
            kept.update(dict.fromkeys(held, now_us + self._ttl_us))
            return kept

        return change

    async def _update(self, key: str, change: _Change) -> bool:
        """Apply ``change`` to the bucket atomically; False when ``change`` declined (the bucket is full)."""
        store_key = keys.connection_slots(key)
        for attempt in range(_ATTEMPTS):
            current = await self._store.get_versioned(store_key)
            now_us = self._now_us()
            members = live_members(current.value if current else None, now_us)
            updated = change(members, now_us)
            if updated is None:
                return False
            if updated == members:
                return True
            if current is not None and not updated:
                written = await self._store.delete_if_equals(store_key, current.value)
            else:
                version = current.version if current is not None else None
                written = await self._store.compare_and_set(
                    store_key, version, orjson.dumps(updated), self._ttl
                )
            if written:
                return True
            await asyncio.sleep(random.uniform(0, _BACKOFF * min(attempt + 1, 10)))
        raise BackendUnavailable(f"SSE connection slots of {key} kept conflicting")

    def _member(self, slot: Slot) -> str:
        return f"{self._prefix}{slot.token}"

    def _now_us(self) -> int:
        return to_micros(self._clock.now())


def _take(member: str, limit: int, ttl_us: int) -> _Change:
    def change(members: dict[str, int], now_us: int) -> dict[str, int] | None:
        if len(members) >= limit:
            return None
        return {**members, member: now_us + ttl_us}

    return change


def _drop(gone: set[str]) -> _Change:
    def change(members: dict[str, int], now_us: int) -> dict[str, int]:
        return {member: expires for member, expires in members.items() if member not in gone}

    return change


def connection_slots_for(
    backend: str, store: StateStore, clock: Clock, keep_alive_seconds: float
) -> ConnectionSlots:
    """Cluster-wide slots with shared state (``redis``, ``postgres``), per-process ones otherwise."""
    if backend in ("redis", "postgres"):
        return StoreConnectionSlots(store, clock, ttl=RENEWALS_BEFORE_EXPIRY * keep_alive_seconds)
    return LocalConnectionSlots()
