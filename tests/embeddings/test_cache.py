"""The bounded TTL vector cache: expiry on the injected clock, LRU eviction, shared misses, failures
never stored (features.md §18)."""

from __future__ import annotations

import asyncio

import pytest

from tidegate.clock import ManualClock
from tidegate.embeddings import Vector, VectorCache
from tidegate.errors import EmbeddingFailed


class Counting:
    """A computation that counts its calls and can be held open or made to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    def __call__(self, value: float) -> object:
        async def compute() -> Vector:
            self.calls += 1
            await self.gate.wait()
            if self.fail:
                raise EmbeddingFailed("provider down")
            return (value,)

        return compute


async def test_entries_expire_after_the_ttl() -> None:
    clock = ManualClock()
    cache, compute = VectorCache(10, 60, clock), Counting()
    assert await cache.get_or_compute("a", compute(1.0)) == (1.0,)
    clock.advance(59.9)
    assert cache.get("a") == (1.0,)
    clock.advance(0.1)
    assert cache.get("a") is None
    await cache.get_or_compute("a", compute(1.0))
    assert compute.calls == 2


async def test_the_least_recently_used_entry_goes_first() -> None:
    cache, compute = VectorCache(2, 60, ManualClock()), Counting()
    await cache.get_or_compute("a", compute(1.0))
    await cache.get_or_compute("b", compute(2.0))
    assert cache.get("a") is not None  # a is now the most recently used
    await cache.get_or_compute("c", compute(3.0))
    assert cache.get("b") is None
    assert cache.get("a") == (1.0,)
    assert cache.get("c") == (3.0,)
    assert len(cache) == 2


async def test_concurrent_misses_share_one_call() -> None:
    cache, compute = VectorCache(10, 60, ManualClock()), Counting()
    compute.gate.clear()
    waiters = [asyncio.ensure_future(cache.get_or_compute("a", compute(1.0))) for _ in range(5)]
    await asyncio.sleep(0)
    compute.gate.set()
    assert await asyncio.gather(*waiters) == [(1.0,)] * 5
    assert compute.calls == 1


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    cache, compute = VectorCache(10, 60, ManualClock()), Counting()
    compute.gate.clear()
    first = asyncio.ensure_future(cache.get_or_compute("a", compute(1.0)))
    second = asyncio.ensure_future(cache.get_or_compute("a", compute(1.0)))
    await asyncio.sleep(0)
    first.cancel()
    compute.gate.set()
    assert await second == (1.0,)
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_failures_are_raised_to_every_waiter_and_never_stored() -> None:
    cache, compute = VectorCache(10, 60, ManualClock()), Counting()
    compute.fail = True
    compute.gate.clear()
    waiters = [asyncio.ensure_future(cache.get_or_compute("a", compute(1.0))) for _ in range(2)]
    await asyncio.sleep(0)
    compute.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, EmbeddingFailed) for r in results)
    assert cache.get("a") is None
    compute.fail = False
    assert await cache.get_or_compute("a", compute(1.0)) == (1.0,)
    assert compute.calls == 2


async def test_capacity_zero_stores_nothing() -> None:
    cache, compute = VectorCache(0, 60, ManualClock()), Counting()
    await cache.get_or_compute("a", compute(1.0))
    assert cache.get("a") is None
    assert len(cache) == 0
