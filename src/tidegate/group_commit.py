"""Group commit: one writer task turns many concurrent appends into few transactions.

The writer takes the first queued item, then everything else already queued (up to ``batch_size``)
without sleeping, writes them in one transaction and resolves every waiter. Items that arrive during a
commit form the next one. So a lone caller waits for exactly one commit and no timer, while N concurrent
callers share about N / batch_size commits; no item waits longer than the commit in progress plus its own
(which is how ``audit.batch_delay_ms`` is met without a linger).

``sync=True``: ``submit`` returns once its item is committed, or raises ``BackendUnavailable``.
``sync=False``: ``submit`` queues and returns (waiting only while ``queue_size`` items are queued);
failed batches are retried with backoff, and on ``close`` whatever still cannot be written goes to
``on_unwritten`` (the spool) instead of being lost."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, TypeVar

from tidegate.errors import BackendUnavailable

__all__ = ["GroupCommitter"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 2.0


@dataclass(slots=True)
class _Pending(Generic[T]):
    item: T
    done: asyncio.Future[None] | None  # None in async mode: nobody waits


class GroupCommitter(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        batch_size: int,
        sync: bool = True,
        queue_size: int = 10_000,
        on_unwritten: Callable[[list[T]], Awaitable[None]] | None = None,
        name: str = "audit",
    ) -> None:
        self._write = write
        self._batch_size = max(1, batch_size)
        self._sync = sync
        self._queue_size = max(1, queue_size)
        self._on_unwritten = on_unwritten
        self._name = name
        self._queue: deque[_Pending[T]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Transactions committed so far (observability, and the group-commit tests).
        self.commits = 0

    def start(self) -> None:
        if self._task is None:
            self._closing.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"{self._name}-group-commit"
            )
            self._task.add_done_callback(self._on_writer_exit)

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, item: T) -> None:
        while not self._sync and len(self._queue) >= self._queue_size and self.is_running:
            self._room.clear()
            await self._room.wait()
        done = self._push(item)
        if done is not None:
            await done

    def enqueue(self, item: T) -> asyncio.Future[None]:
        """``submit`` in two halves: ``item`` is queued and the writer woken before this returns, so its
        commit goes out at the caller's next suspension, ahead of what the caller sends meanwhile;
        awaiting the result ends like ``submit``. Raises ``BackendUnavailable`` at once when closed.

        Cancelling the returned future abandons the wait, not the write (as a cancelled ``submit``)."""
        if not self._sync and len(self._queue) >= self._queue_size:
            return asyncio.ensure_future(self.submit(item))  # async mode, queue full: waits for room
        done = self._push(item)
        if done is None:
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
        return done

    def _push(self, item: T) -> asyncio.Future[None] | None:
        if not self.is_running or self._closing.is_set():
            raise BackendUnavailable(f"{self._name} store is closed")
        done = asyncio.get_running_loop().create_future() if self._sync else None
        self._queue.append(_Pending(item, done))
        self._idle.clear()
        self._wakeup.set()
        return done

    async def flush(self) -> None:
        """Wait until everything queued so far was committed (or handed to ``on_unwritten``)."""
        if self.is_running:
            await self._idle.wait()

    async def close(self) -> None:
        """Stop taking items, write what is queued, then stop the writer."""
        task = self._task
        if task is None:
            return
        self._closing.set()
        self._wakeup.set()
        self._room.set()
        if not task.done():  # a writer that died has already released its waiters
            await asyncio.shield(task)  # a cancelled caller leaves the writer to finish the drain
        self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                self._idle.set()
                if self._closing.is_set():
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            self._room.set()
            error = await self._commit(batch)
            if error is None:
                failures = 0
            elif not self._sync:
                failures += 1
                await self._after_async_failure(batch, failures, error)

    async def _commit(self, batch: list[_Pending[T]]) -> BaseException | None:
        try:
            await self._write([pending.item for pending in batch])
        except Exception as exc:
            self._fail(batch, exc)
            return exc
        except asyncio.CancelledError as exc:
            self._fail(batch, exc)
            raise
        self.commits += 1
        for pending in batch:
            if pending.done is not None and not pending.done.done():
                pending.done.set_result(None)
        return None

    async def _after_async_failure(
        self, batch: list[_Pending[T]], failures: int, error: BaseException
    ) -> None:
        """Keep the batch first in line and back off; once closing, hand everything to ``on_unwritten``."""
        self._queue.extendleft(reversed(batch))
        if not self._closing.is_set():
            log.warning(
                "%s write failed (%s); retrying %d queued records", self._name, error, len(self._queue)
            )
            delay = min(_MAX_RETRY_DELAY, _RETRY_DELAY * 2 ** (failures - 1))
            with suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._closing.wait()
            return
        unwritten = [pending.item for pending in self._queue]
        self._queue.clear()
        if self._on_unwritten is None:
            log.error("%s store unavailable at shutdown: %d queued records lost", self._name, len(unwritten))
            return
        try:
            await self._on_unwritten(unwritten)
        except Exception:
            log.exception(
                "%s store unavailable at shutdown: %d queued records lost", self._name, len(unwritten)
            )

    def _fail(self, batch: list[_Pending[T]], cause: BaseException) -> None:
        for pending in batch:
            if pending.done is not None and not pending.done.done():
                failure = BackendUnavailable(f"{self._name} store did not commit the record")
                failure.__cause__ = cause
                pending.done.set_exception(failure)

    def _on_writer_exit(self, task: asyncio.Task[None]) -> None:
        """A writer that stops early (cancelled, or a bug) must not leave callers waiting forever."""
        if not task.cancelled() and task.exception() is not None:
            log.error("%s group-commit writer failed", self._name, exc_info=task.exception())
        stranded = list(self._queue)
        self._queue.clear()
        if stranded and not self._sync:
            log.error("%s group-commit writer stopped: %d queued records lost", self._name, len(stranded))
        self._fail(stranded, RuntimeError(f"{self._name} group-commit writer stopped"))
        self._idle.set()
        self._room.set()
