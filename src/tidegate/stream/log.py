"""The local event log: an in-memory ring of stream events, bounded by count and age (D17).

Every event is appended once, here, after sanitization (``StreamEvent`` fields are already safe). The
streaming endpoints (``stream/``) read from this log; a shared Redis/PostgreSQL log implements the same
``EventLog`` protocol."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from tidegate.model.event import StreamEvent

__all__ = ["EventLog", "LocalEventLog"]


class EventLog(Protocol):
    async def append(self, events: Sequence[StreamEvent]) -> None:
        """Append in order; the events become visible to every subscriber in this order."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class LocalEventLog:
    """Single-process log. Listeners are called synchronously on append and must never block."""

    def __init__(self, max_events: int, max_age_seconds: int, now: Callable[[], datetime]) -> None:
        self._events: deque[StreamEvent] = deque(maxlen=max(max_events, 1))
        self._max_age = timedelta(seconds=max_age_seconds)
        self._now = now
        self._listeners: list[Callable[[StreamEvent], None]] = []
        self.appended = 0

    async def append(self, events: Sequence[StreamEvent]) -> None:
        for event in events:
            self._events.append(event)
            self.appended += 1
            for listener in self._listeners:
                listener(event)

    def add_listener(self, listener: Callable[[StreamEvent], None]) -> None:
        self._listeners.append(listener)

    def retained(self) -> list[StreamEvent]:
        """Events inside the replay window, oldest first."""
        self.trim()
        return list(self._events)

    def trim(self) -> int:
        cutoff = self._now() - self._max_age
        dropped = 0
        while self._events and self._events[0].timestamp < cutoff:
            self._events.popleft()
            dropped += 1
        return dropped

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.clear()
