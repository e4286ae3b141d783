"""A FIFO counting semaphore whose uncontended acquire is a plain method call.

``asyncio.Semaphore`` costs a coroutine per acquire even when a permit is free, which shows at benchmark
rates. Here the free case is ``try_acquire()``; only a caller that must wait awaits ``acquire()``. A
released permit goes straight to the oldest waiter, so waiting attempts run in arrival order."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["Permits"]


class Permits:
    __slots__ = ("_free", "_waiters")

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("permit count must be at least 1")
        self._free = count
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    def try_acquire(self) -> bool:
        """Take a permit if one is free and nobody is queued ahead."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait in line for a permit. If cancelled after being handed one, the permit is passed on."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Return a permit: to the oldest live waiter if there is one, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
