"""``FollowUps``: work a request starts without waiting is held, its failure logged, and drained."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tidegate.workers.follow_ups import FollowUps


async def test_drain_waits_for_work_then_cancels_what_outlives_the_grace() -> None:
    follow_ups = FollowUps("test work")
    done: list[str] = []
    stuck = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0)
        done.append("quick")

    async def forever() -> None:
        try:
            await stuck.wait()
        finally:
            done.append("cancelled")

    follow_ups.start(quick())
    follow_ups.start(forever())
    assert follow_ups.pending == 2
    await follow_ups.drain(0.05)
    assert done == ["quick", "cancelled"]
    assert follow_ups.pending == 0


async def test_a_failure_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    follow_ups = FollowUps("test work")

    async def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="tidegate.workers.follow_ups"):
        follow_ups.start(broken())
        await follow_ups.drain(1.0)
        await asyncio.sleep(0)  # the done callback runs on the next loop iteration
    [record] = caplog.records
    assert record.getMessage() == "test work failed"
    assert record.exc_info is not None and "boom" in str(record.exc_info[1])


async def test_supervisor_stop_cancels_again_a_loop_that_swallows_cancellation() -> None:
    import asyncio as _asyncio

    from tidegate.workers.supervisor import Loop, Supervisor

    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        try:
            await _asyncio.sleep(3600)
        except _asyncio.CancelledError:
            swallowed += 1
            if swallowed == 1:
                await _asyncio.sleep(3600)  # ignores the first cancellation, like a swallowing library
            raise

    supervisor = Supervisor()
    supervisor.add(Loop("stubborn", 1.0, stubborn))
    supervisor.start()
    await _asyncio.sleep(0)
    await _asyncio.wait_for(supervisor.stop(), timeout=10)
    assert swallowed == 1  # the first cancellation was swallowed; the second ended the loop
