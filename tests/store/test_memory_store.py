"""What only the memory backend adds: bounded bookkeeping for expiry."""

from __future__ import annotations

from tidegate.clock import ManualClock
from tidegate.store.memory import MemoryStateStore


async def test_rewriting_keys_with_a_ttl_keeps_the_expiry_heap_bounded() -> None:
    store = MemoryStateStore(ManualClock())
    for i in range(20_000):
        await store.put(f"k{i % 10}", b"v", ttl=60)
    assert len(store._expiry) <= 2 * 10 + 1024 + 1
    assert len(store._data) == 10


async def test_expired_keys_touched_before_a_sweep_are_dropped_at_once() -> None:
    clock = ManualClock()
    store = MemoryStateStore(clock)
    await store.put("k", b"v", ttl=1)
    clock.advance(1)
    assert await store.get("k") is None
    assert "k" not in store._data
    assert await store.sweep(clock.now()) == 0
    assert store._expiry == []


async def test_an_emptied_time_index_is_forgotten() -> None:
    store = MemoryStateStore(ManualClock())
    from datetime import UTC, datetime

    await store.schedule("timers", "m", datetime(2026, 1, 1, tzinfo=UTC))
    await store.unschedule("timers", "m")
    assert store._indexes == {}


async def test_reopening_a_closed_memory_store_keeps_its_data() -> None:
    store = MemoryStateStore(ManualClock())
    await store.put("k", b"v")
    await store.close()
    await store.open()
    assert await store.get("k") == b"v"
