"""Deadlines that cost nothing for attempts that never wait."""

from __future__ import annotations

import asyncio

import pytest

from tidegate.executor._deadline import run_until


async def immediate(value: int) -> int:
    return value


async def waits(value: int, seconds: float = 0) -> int:
    await asyncio.sleep(seconds)
    return value


async def fails_after_waiting() -> int:
    await asyncio.sleep(0)
    raise ValueError("boom")


async def test_a_coroutine_that_never_waits_needs_no_time() -> None:
    loop = asyncio.get_running_loop()
    assert await run_until(immediate(7), loop.time() - 1) == 7  # already past the deadline: no timer armed


async def test_waiting_coroutine_returns_its_result() -> None:
    loop = asyncio.get_running_loop()
    assert await run_until(waits(3), loop.time() + 5) == 3
    future: asyncio.Future[int] = loop.create_future()
    loop.call_soon(future.set_result, 9)
    assert await run_until(_await(future), loop.time() + 5) == 9


async def _await(future: asyncio.Future[int]) -> int:
    return await future


async def test_waiting_past_the_deadline_times_out() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        await run_until(waits(1, 3600), loop.time() + 0.01)


async def test_deadline_counts_from_before_the_first_step() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        await run_until(waits(1, 3600), loop.time() - 1)


async def test_exceptions_pass_through() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(ValueError, match="boom"):
        await run_until(fails_after_waiting(), loop.time() + 5)


async def test_outside_cancellation_reaches_the_coroutine_and_propagates() -> None:
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    cleaned = asyncio.Event()

    async def body() -> int:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.set()
        return 0

    task = asyncio.create_task(run_until(body(), loop.time() + 3600))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned.is_set()


async def test_many_suspensions_are_forwarded() -> None:
    loop = asyncio.get_running_loop()

    async def chatty() -> int:
        total = 0
        for n in range(10):
            await asyncio.sleep(0)
            total += n
        return total

    assert await run_until(chatty(), loop.time() + 5) == 45
