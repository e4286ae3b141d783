"""Follow one chain run's durable history (stream.md §2.4-§2.5): every entry after a ``seq``, exactly once,
in order, then the end of the stream and why.

The follower pulls: it reads the run only when its consumer asks for more, so a slow client is served at
its own pace from the history and nothing queues up for it (no ``lagged``, §2.4). Reads happen when the
``ExecutionWatch`` says the run changed (this instance's engine, or another instance's ``chain_*`` event
through the shared log) and at least every ``poll_seconds`` otherwise. The ticket is taken before the
first read, so no change is missed between a read and the next wait.

It ends after the first terminal entry (later entries, the results of attempts in flight at cancel or
timeout, stay in the history only, §2.5), when ``timeout`` passes, when the history could not be read
for ``outage_seconds``, or, without an end, when the watch closes (drain) or ``stop`` is called."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from tidegate.chains.events import TERMINAL_ENTRIES
from tidegate.chains.watch import ExecutionWatch
from tidegate.errors import BackendUnavailable
from tidegate.model.json import JsonValue

__all__ = [
    "End",
    "EndReason",
    "HistoryFollower",
    "RunSource",
    "RunView",
    "Step",
]

log = logging.getLogger(__name__)

#: Longest time between two reads of a run nobody announced a change of (cross-instance safety net).
POLL_SECONDS = 1.0
#: How long the history may stay unreadable before the stream ends with ``unavailable`` (§2.5).
OUTAGE_SECONDS = 30.0


class RunView(Protocol):
    """What a follower needs of a chain run (``chains.run.ChainRun`` has it)."""

    @property
    def chain_id(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    @property
    def tenant(self) -> str: ...

    @property
    def terminal(self) -> bool: ...

    @property
    def history(self) -> Sequence[dict[str, JsonValue]]: ...

    def summary(self) -> dict[str, JsonValue]: ...


class RunSource(Protocol):
    """Where runs are read (``chains.repository.ChainRepository``)."""

    async def load(self, chain_id: str) -> RunView | None:
        """The run, or None when unknown or past retention; raises BackendUnavailable when down."""
        ...


class EndReason(StrEnum):
    TERMINAL = "terminal"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class End:
    """Why the stream ends, and the run as last read (for the ``done`` summary); None if never read."""

    reason: EndReason
    run: RunView | None

    def done(self) -> dict[str, JsonValue]:
        """The ``done`` data of a per-execution stream: ``ChainSummary`` plus ``reason`` (§2.5)."""
        summary = dict(self.run.summary()) if self.run is not None else {}
        summary["reason"] = self.reason.value
        return summary


@dataclass(frozen=True, slots=True)
class Step:
    """Entries to send next, in ``seq`` order; ``end`` set on the last step (after its entries)."""

    entries: list[dict[str, JsonValue]]
    end: End | None = None


class HistoryFollower:
    """Entries with ``seq`` > ``after`` of one run, then an ``End``. Call ``close`` when done with it."""

    def __init__(
        self,
        source: RunSource,
        watch: ExecutionWatch,
        chain_id: str,
        *,
        after: int,
        timeout: float,
        run: RunView | None = None,
        poll_seconds: float | None = None,
        outage_seconds: float | None = None,
    ) -> None:
        self._source = source
        self._watch = watch
        self._chain_id = chain_id
        self._ticket = watch.ticket(chain_id)  # before the first read: no change can slip between
        self._cursor = after  # the last seq taken into ``_pending`` (or sent)
        self._run = run
        self._pending: deque[dict[str, JsonValue]] = deque()
        self._end: End | None = None
        self._finished = False
        self._stopped = False
        self._poll = POLL_SECONDS if poll_seconds is None else poll_seconds
        self._outage = OUTAGE_SECONDS if outage_seconds is None else outage_seconds
        self._unreadable_since: float | None = None
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout
        self._next_read = loop.time()  # read at once

    @property
    def chain_id(self) -> str:
        return self._chain_id

    def stop(self) -> None:
        """End without an ``End`` (the consumer left); a waiting ``next`` returns None at once."""
        self._stopped = True
        self._ticket.wake()

    def close(self) -> None:
        self._stopped = True
        self._ticket.close()

    async def next(self, limit: int, max_wait: float | None) -> Step | None:
        """Up to ``limit`` entries, waiting for the first; an empty step after ``max_wait`` idle seconds;
        ``None`` after the end was handed out, or when stopped or drained (no ``End`` then).

        Cancelling a waiting call loses nothing: entries read but not yet returned stay queued."""
        loop = asyncio.get_running_loop()
        idle_until = None if max_wait is None else loop.time() + max_wait
        while True:
            if self._finished or self._stopped or self._watch.closed:
                return None
            if self._pending or self._end is not None:
                return self._take(max(limit, 1))
            now = loop.time()
            if now >= self._deadline:
                await self._read(now, final=True)
                continue
            if now >= self._next_read:
                await self._read(now, final=False)
                continue
            wake_at = min(self._next_read, self._deadline)
            if idle_until is not None:
                if now >= idle_until:
                    return Step([])
                wake_at = min(wake_at, idle_until)
            if await self._ticket.wait(wake_at - now):
                self._next_read = loop.time()  # notified: read now

    def _take(self, limit: int) -> Step:
        pending = self._pending
        entries = [pending.popleft() for _ in range(min(limit, len(pending)))]
        if pending or self._end is None:
            return Step(entries)
        self._finished = True
        return Step(entries, self._end)

    async def _read(self, now: float, *, final: bool) -> None:
        """Read the run once: queue its new entries, and decide the end when it has come."""
        self._next_read = now + self._poll
        try:
            run = await self._source.load(self._chain_id)
        except BackendUnavailable:
            if self._unreadable_since is None:
                self._unreadable_since = now
                log.warning(
                    "chain history unreadable; the stream keeps trying", extra={"chain_id": self._chain_id}
                )
            if now - self._unreadable_since >= self._outage:
                self._end = End(EndReason.UNAVAILABLE, self._run)
            elif final:
                self._end = End(EndReason.TIMEOUT, self._run)
            return
        self._unreadable_since = None
        if run is None:  # deleted under us (retention): nothing more will ever come
            self._end = End(EndReason.UNAVAILABLE, self._run)
            return
        self._run = run
        terminal_seq = self._queue_new(run.history)
        if terminal_seq is not None or run.terminal:
            self._end = End(EndReason.TERMINAL, run)
        elif final:
            self._end = End(EndReason.TIMEOUT, run)

    def _queue_new(self, history: Sequence[dict[str, JsonValue]]) -> int | None:
        """Queue entries after the cursor up to the first terminal entry; return that entry's seq."""
        for entry in history:
            seq = entry.get("seq")
            if not isinstance(seq, int):
                continue
            is_terminal = entry.get("type") in TERMINAL_ENTRIES
            if seq > self._cursor:
                self._pending.append(entry)
                self._cursor = seq
            if is_terminal:
                return seq
        return None
