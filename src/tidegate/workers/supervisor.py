"""The supervisor owns every background loop of the process (features.md §19).

Each loop is a coroutine function run forever at its interval; a loop that raises is logged with its
traceback and restarted after 1 s, doubling up to 60 s. ``stop()`` cancels every loop and waits for it,
so no task outlives the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Loop", "Supervisor"]

log = logging.getLogger(__name__)

_FIRST_BACKOFF = 1.0
_MAX_BACKOFF = 60.0
_STOP_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class Loop:
    """``tick`` does one round of work; it runs again ``interval`` seconds after it returns."""

    name: str
    interval: float
    tick: Callable[[], Awaitable[None]]


class Supervisor:
    def __init__(self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._loops: list[Loop] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sleep = sleep
        self.ticks: dict[str, int] = {}

    def add(self, loop: Loop) -> None:
        if loop.name in self._tasks:
            raise ValueError(f"loop already running: {loop.name}")
        self._loops.append(loop)

    def start(self) -> None:
        for loop in self._loops:
            if loop.name not in self._tasks:
                self._tasks[loop.name] = asyncio.create_task(self._run(loop), name=f"tidegate:{loop.name}")

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        # A library can swallow a cancellation (redis-py's wait_for on Python 3.11): cancel again rather
        # than let one loop hold shutdown forever.
        while tasks:
            _, pending = await asyncio.wait(tasks, timeout=_STOP_GRACE)
            for task in pending:
                log.warning("background loop %s ignored cancellation; cancelling again", task.get_name())
                task.cancel()
            tasks = list(pending)

    @property
    def running(self) -> list[str]:
        return [name for name, task in self._tasks.items() if not task.done()]

    async def _run(self, loop: Loop) -> None:
        backoff = _FIRST_BACKOFF
        while True:
            try:
                await loop.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop %s failed; restarting in %.0f s", loop.name, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = _FIRST_BACKOFF
            self.ticks[loop.name] = self.ticks.get(loop.name, 0) + 1
            await self._sleep(loop.interval)
