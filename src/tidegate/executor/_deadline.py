"""Run a coroutine under a deadline, arming the timer only if the coroutine actually waits.

Most attempts on in-process providers (``log``) finish without ever suspending, and arming an
``asyncio.timeout`` costs more than such an attempt (a timer handle pushed on the loop's heap, then
cancelled). So the coroutine is stepped once by hand: if it finishes, there was nothing to time out; if it
waits, the rest of it runs under ``asyncio.timeout_at`` with the deadline taken before the first step."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

__all__ = ["run_until"]

T = TypeVar("T")


class _Resumed(Generic[T]):
    """Awaits a coroutine that was already stepped once and is suspended on ``pending``.

    Everything the task sends or throws in (results, ``CancelledError`` from the timeout) is forwarded,
    exactly as ``await`` would have done had the coroutine been awaited from the start."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, T], pending: object) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, T]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # forwarded into the coroutine, which decides what it means
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]


async def run_until(coro: Coroutine[Any, Any, T], deadline: float) -> T:
    """Await ``coro``; raise ``TimeoutError`` if it is still waiting at ``deadline`` (loop time)."""
    try:
        pending = coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    async with asyncio.timeout_at(deadline):
        return await _Resumed(coro, pending)
