"""The FIFO permits behind the executor's concurrency caps."""

from __future__ import annotations

import asyncio

import pytest

from tidegate.executor._permits import Permits


def test_free_permits_are_taken_without_waiting() -> None:
    permits = Permits(2)
    assert permits.try_acquire() and permits.try_acquire()
    assert not permits.try_acquire()
    permits.release()
    assert permits.free == 1


def test_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Permits(0)


async def test_waiters_are_served_in_arrival_order() -> None:
    permits = Permits(1)
    assert permits.try_acquire()
    order: list[int] = []

    async def worker(n: int) -> None:
        await permits.acquire()
        order.append(n)
        await asyncio.sleep(0)
        permits.release()

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(worker(n)))
        await asyncio.sleep(0)
    assert permits.waiting == 5
    permits.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert permits.free == 1


async def test_a_newcomer_does_not_jump_the_queue() -> None:
    permits = Permits(1)
    assert permits.try_acquire()
    waiter = asyncio.create_task(permits.acquire())
    await asyncio.sleep(0)
    permits.release()  # handed to the waiter, not returned to the pool
    assert not permits.try_acquire()
    await waiter
    permits.release()
    assert permits.try_acquire()


async def test_cancelled_waiter_leaves_the_queue() -> None:
    permits = Permits(1)
    assert permits.try_acquire()
    first = asyncio.create_task(permits.acquire())
    second = asyncio.create_task(permits.acquire())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    permits.release()
    await asyncio.wait_for(second, 1)
    assert permits.waiting == 0


async def test_permit_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    permits = Permits(1)
    assert permits.try_acquire()
    first = asyncio.create_task(permits.acquire())
    second = asyncio.create_task(permits.acquire())
    await asyncio.sleep(0)
    permits.release()  # first now owns the permit but has not resumed yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the permit moved on instead of leaking
    permits.release()
    assert permits.free == 1
