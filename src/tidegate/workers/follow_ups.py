"""Work a request starts but does not wait for, with an owner: a dispatch's state notification runs after
the dispatch's record step (``Handled.after`` must not block), yet shutdown must not lose it silently.

Each task is held until it ends; a failure is logged with its traceback; ``drain`` lets running tasks
finish up to a deadline, then cancels the rest and waits for them (STYLE.md §7: no task is forgotten)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["FollowUps"]

log = logging.getLogger(__name__)


class FollowUps:
    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the running loop; it is held until it ends."""
        task = asyncio.get_running_loop().create_task(work, name=f"tidegate:{self._name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("%s failed", self._name, exc_info=error)

    async def drain(self, grace_seconds: float) -> None:
        """Wait up to ``grace_seconds`` for running work, then cancel what is left and wait for it."""
        tasks = set(self._tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in late:
            task.cancel()
        if late:
            log.warning("%s: %d unfinished at shutdown were cancelled", self._name, len(late))
            await asyncio.gather(*late, return_exceptions=True)
