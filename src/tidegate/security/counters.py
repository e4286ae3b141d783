"""Rate-limit state in the StateStore, so every limit holds across the instances sharing it.

``WindowCounter`` keeps the caller and tenant limits (security.md §9): one ``incr`` per request on the
current fixed window's counter. The previous window's count is final once that window has ended, so each
process reads it once per window and key and keeps it; a request therefore costs one store round trip,
and the first of a window two, made concurrently.

``SlidingLog`` keeps the small fixed limits (login failures, embedding similarity): the recent request
times of one key as one JSON value, updated with compare-and-set. The arithmetic is ``rate_limit.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson

from tidegate.security.rate_limit import Decision, Limit, decide, log_retry_after, position, recent
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["SlidingLog", "WindowCounter"]

log = logging.getLogger(__name__)

#: Compare-and-set rounds before a sliding-log write is given up (only under heavy contention on one key).
_CAS_ATTEMPTS = 16
#: Previous-window counts kept per process; past it the cache starts over (tenants are client-chosen).
_MAX_CACHED = 10_000


class WindowCounter:
    """Counts requests per identifier (a caller id or a tenant) in fixed windows of the store."""

    def __init__(self, store: StateStore, scope: str) -> None:
        self._store = store
        self._scope = scope
        # identifier -> (window length, window index, its final count): the window before the current one.
        self._previous: dict[str, tuple[int, int, int]] = {}

    async def hit(self, ident: str, limit: Limit, now: float) -> Decision:
        """Count one request of ``ident`` at ``now`` and decide it (refused requests count too)."""
        seconds = limit.window_seconds
        at = position(now, seconds)
        key = keys.rate_counter(self._scope, ident, seconds, at.index)
        ttl = 2 * seconds  # read as the previous window during the next one
        cached = self._previous.get(ident)
        if cached is not None and cached[0] == seconds and cached[1] == at.index - 1:
            current = await self._store.incr(key, 1, ttl)
            previous = cached[2]
        else:
            before = keys.rate_counter(self._scope, ident, seconds, at.index - 1)
            current, raw = await asyncio.gather(self._store.incr(key, 1, ttl), self._store.get(before))
            previous = _count(raw)
            if len(self._previous) >= _MAX_CACHED:
                self._previous.clear()
            self._previous[ident] = (seconds, at.index - 1, previous)
        return decide(limit, previous, current, at.elapsed)


def _count(raw: bytes | None) -> int:
    return int(raw) if raw else 0


class SlidingLog:
    """The last ``limit.requests`` times of each key, expiring one window after the newest."""

    def __init__(self, store: StateStore, limit: Limit, key: Callable[[str], str]) -> None:
        self._store = store
        self._limit = limit
        self._key = key

    async def retry_after(self, ident: str, now: float) -> int | None:
        """Seconds until ``ident`` may be counted again, or None when it may be now (reads only)."""
        times = _decode(await self._store.get(self._key(ident)))
        return log_retry_after(times, now, self._limit.window_seconds, self._limit.requests)

    async def record(self, ident: str, now: float) -> None:
        """Add ``now`` to the log, whether or not it has room (a login failure is always recorded)."""
        await self._update(ident, now, only_with_room=False)

    async def hit(self, ident: str, now: float) -> int | None:
        """Record ``now`` if the log has room and return None; else record nothing and return the wait."""
        return await self._update(ident, now, only_with_room=True)

    async def _update(self, ident: str, now: float, *, only_with_room: bool) -> int | None:
        key = self._key(ident)
        window, most = self._limit.window_seconds, self._limit.requests
        for _ in range(_CAS_ATTEMPTS):
            current = await self._store.get_versioned(key)
            times = _decode(None if current is None else current.value)
            if only_with_room:
                wait = log_retry_after(times, now, window, most)
                if wait is not None:
                    return wait
            inside = recent(times, now, window)
            kept = inside[max(0, len(inside) - most + 1) :]  # with the new one: at most ``most``
            version = None if current is None else current.version
            if await self._store.compare_and_set(key, version, orjson.dumps([*kept, now]), ttl=window):
                return None
        log.warning("rate limit: could not record a request (contention on one key)")
        return 1 if only_with_room else None  # refuse rather than let an uncounted request through


def _decode(raw: bytes | None) -> list[float]:
    if raw is None:
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [float(t) for t in value if isinstance(t, int | float)] if isinstance(value, list) else []
