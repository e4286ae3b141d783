"""In-process StateStore: one dict, a global version counter, an expiry heap and sorted time indexes.

Single process only (features.md §20). No method awaits anything, so each one is atomic with respect to
every other coroutine. Point operations are O(1) (plus O(log n) to remember a TTL); expired keys are
invisible at once, dropped when next touched, and reclaimed in bulk by ``sweep`` from the heap, so a
sweep costs O(expired · log n) instead of a walk over every key."""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import datetime

from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable, TidegateError
from tidegate.model.time import from_micros, to_micros
from tidegate.store.base import ScanPage, Versioned

__all__ = ["MemoryStateStore"]

#: The expiry heap is rebuilt when stale entries (rewritten or deleted keys) outnumber live ones.
_HEAP_SLACK = 1024


@dataclass(slots=True)
class _Entry:
    value: bytes
    version: int
    expires_us: int | None  # microseconds since the epoch; None = no expiry


@dataclass(slots=True)
class _TimeIndex:
    order: list[tuple[int, str]] = field(default_factory=list)  # sorted (due_us, member)
    due: dict[str, int] = field(default_factory=dict)


class MemoryStateStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._data: dict[str, _Entry] = {}
        self._versions = itertools.count(1)  # global, so a recreated key never reuses a version
        self._expiry: list[tuple[int, str]] = []  # heap of (expires_us, key); may hold stale entries
        self._indexes: dict[str, _TimeIndex] = {}
        self._closed = False

    async def open(self) -> None:
        """Nothing to open; present so every backend is opened the same way."""
        self._closed = False

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key, self._now_us())
        return None if entry is None else entry.value

    async def put(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._write(key, value, self._expires(ttl, self._now_us()))

    async def delete(self, key: str) -> bool:
        entry = self._live(key, self._now_us())
        if entry is None:
            return False
        del self._data[key]
        return True

    async def put_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now_us = self._now_us()
        if self._live(key, now_us) is not None:
            return False
        self._write(key, value, self._expires(ttl, now_us))
        return True

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        entry = self._live(key, self._now_us())
        if entry is None or entry.value != value:
            return False
        del self._data[key]
        return True

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        now_us = self._now_us()
        entry = self._live(key, now_us)
        if entry is None:
            self._write(key, str(amount).encode(), self._expires(ttl, now_us))
            return amount
        total = _as_int(key, entry.value) + amount
        entry.value = str(total).encode()
        entry.version = next(self._versions)
        return total

    async def get_versioned(self, key: str) -> Versioned | None:
        entry = self._live(key, self._now_us())
        return None if entry is None else Versioned(entry.value, entry.version)

    async def compare_and_set(
        self, key: str, version: int | None, value: bytes, ttl: float | None = None
    ) -> bool:
        now_us = self._now_us()
        entry = self._live(key, now_us)
        if (entry is None) != (version is None) or (entry is not None and entry.version != version):
            return False
        self._write(key, value, self._expires(ttl, now_us))
        return True

    async def scan(self, prefix: str, cursor: str | None = None, limit: int = 100) -> ScanPage:
        """O(n log limit) per page: listing is rare, so the hot path keeps no sorted key index."""
        now_us = self._now_us()
        limit = max(1, limit)
        keys = heapq.nsmallest(
            limit + 1,
            (
                key
                for key, entry in self._data.items()
                if key.startswith(prefix)
                and (cursor is None or key > cursor)
                and (entry.expires_us is None or entry.expires_us > now_us)
            ),
        )
        page = keys[:limit]
        return ScanPage(
            [(key, self._data[key].value) for key in page], page[-1] if len(keys) > limit else None
        )

    async def schedule(self, index: str, member: str, due_at: datetime) -> None:
        self._check_open()
        entries = self._indexes.setdefault(index, _TimeIndex())
        old = entries.due.get(member)
        if old is not None:
            del entries.order[bisect_left(entries.order, (old, member))]
        due_us = to_micros(due_at)
        entries.due[member] = due_us
        insort(entries.order, (due_us, member))

    async def due(self, index: str, now: datetime, limit: int = 100) -> list[tuple[str, datetime]]:
        self._check_open()
        entries = self._indexes.get(index)
        if entries is None:
            return []
        now_us = to_micros(now)
        found: list[tuple[str, datetime]] = []
        for due_us, member in entries.order:
            if due_us > now_us or len(found) >= limit:
                break
            found.append((member, from_micros(due_us)))
        return found

    async def unschedule(self, index: str, member: str) -> bool:
        self._check_open()
        entries = self._indexes.get(index)
        if entries is None or member not in entries.due:
            return False
        due_us = entries.due.pop(member)
        del entries.order[bisect_left(entries.order, (due_us, member))]
        if not entries.due:
            del self._indexes[index]
        return True

    async def sweep(self, now: datetime) -> int:
        self._check_open()
        now_us = to_micros(now)
        heap, deleted = self._expiry, 0
        while heap and heap[0][0] <= now_us:
            _, key = heapq.heappop(heap)
            entry = self._data.get(key)
            if entry is not None and entry.expires_us is not None and entry.expires_us <= now_us:
                del self._data[key]
                deleted += 1
        return deleted

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    def _now_us(self) -> int:
        if self._closed:
            self._check_open()
        return to_micros(self._clock.now())

    def _check_open(self) -> None:
        if self._closed:
            raise BackendUnavailable("state store (memory) is closed")

    def _live(self, key: str, now_us: int) -> _Entry | None:
        """The entry unless absent or expired; an expired entry is dropped on the way."""
        entry = self._data.get(key)
        if entry is not None and entry.expires_us is not None and entry.expires_us <= now_us:
            del self._data[key]
            return None
        return entry

    def _write(self, key: str, value: bytes, expires_us: int | None) -> None:
        self._data[key] = _Entry(value, next(self._versions), expires_us)
        if expires_us is not None:
            heapq.heappush(self._expiry, (expires_us, key))
            if len(self._expiry) > 2 * len(self._data) + _HEAP_SLACK:
                self._rebuild_expiry()

    def _rebuild_expiry(self) -> None:
        self._expiry = [(e.expires_us, k) for k, e in self._data.items() if e.expires_us is not None]
        heapq.heapify(self._expiry)

    @staticmethod
    def _expires(ttl: float | None, now_us: int) -> int | None:
        return None if ttl is None else now_us + round(ttl * 1_000_000)


def _as_int(key: str, value: bytes) -> int:
    """The counter at ``key``; only canonical decimal text counts (the same rule as the SQLite backend)."""
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or str(number).encode() != value:
        raise TidegateError(f"incr: the value at key {key!r} is not an integer")
    return number
