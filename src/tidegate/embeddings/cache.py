"""A bounded TTL cache of vectors whose concurrent misses for one key share one provider call.

Per process (features.md §18): least recently used entries go first when it is full, entries expire
``ttl`` seconds after they were stored, failures are never stored. Its clock is injected (monotonic
time), so tests drive expiry without sleeping."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from tidegate.clock import Clock
from tidegate.embeddings.vectors import Vector

__all__ = ["VectorCache"]


class VectorCache:
    def __init__(self, capacity: int, ttl_seconds: float, clock: Clock) -> None:
        """``capacity`` 0 stores nothing (misses are still shared while they are in flight)."""
        self._capacity = capacity
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[Vector, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[Vector]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Vector | None:
        """The stored vector, or None when absent or expired (synchronous: rule evaluation calls it)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        vector, expires = entry
        if self._clock.monotonic() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return vector

    async def get_or_compute(self, key: str, compute: Callable[[], Awaitable[Vector]]) -> Vector:
        """The stored vector, else ``compute()``'s result, stored; its exception is raised, not stored.

        The computation runs as a task held here, so a caller that is cancelled does not cancel it for the
        others waiting on the same key."""
        found = self.get(key)
        if found is not None:
            return found
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fill(key, compute))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(task)

    async def _fill(self, key: str, compute: Callable[[], Awaitable[Vector]]) -> Vector:
        vector = await compute()
        if self._capacity > 0:
            self._entries[key] = (vector, self._clock.monotonic() + self._ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return vector

    def _settle(self, key: str, task: asyncio.Task[Vector]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure nobody awaited any more is not reported twice

    def cancel(self) -> None:
        """Cancel the computations in flight (shutdown)."""
        for task in list(self._pending.values()):
            task.cancel()
