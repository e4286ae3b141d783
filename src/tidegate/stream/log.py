"""The event log (D17): every stream event appended once, in order, with a position, kept for replay.

Every event is appended here after sanitization (``StreamEvent`` fields are already safe). Live delivery
goes through listeners called in append order; ``Last-Event-ID`` replay reads the retained window. The
local log is an in-memory window bounded by count and age; a shared Redis/PostgreSQL log implements the
same ``EventLog`` protocol with its own positions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeAlias

from tidegate.model.event import StreamEvent
from tidegate.stream.frames import encode_event

__all__ = ["Entry", "EventLog", "GapListener", "Listener", "LocalEventLog", "Position", "ReplayPage"]

log = logging.getLogger(__name__)

#: Where an entry sits in one log: totally ordered, increasing in append order, compared only with
#: positions of the same log. The local log uses 1, 2, 3, ...; shared logs map their own ids onto ints.
Position: TypeAlias = int


class Entry:
    """One logged event and its position; its SSE frame is encoded on first use, then shared.

    Encoding lazily keeps ``append`` cheap when nobody is subscribed, and encoding once means a thousand
    subscribers queue the same bytes object instead of a thousand copies."""

    __slots__ = ("_frame", "event", "position")

    def __init__(self, position: Position, event: StreamEvent, frame: bytes | None = None) -> None:
        self.position = position
        self.event = event
        self._frame = frame  # a shared log that stores encoded frames can hand them in

    @property
    def frame(self) -> bytes:
        frame = self._frame
        if frame is None:
            frame = self._frame = encode_event(self.event)
        return frame

    def __repr__(self) -> str:
        return f"Entry({self.position}, {self.event.type.value}, {self.event.id})"


Listener: TypeAlias = Callable[[Entry], None]
#: Called between two entries when the log lost entries its listeners had not been given yet (§1.11).
GapListener: TypeAlias = Callable[[], None]


@dataclass(frozen=True, slots=True)
class ReplayPage:
    """Entries read from the window, oldest first.

    ``found`` is False when the requested start was not in the window (unknown, evicted or malformed id,
    or a cursor whose successors were evicted): the page then starts at the oldest retained entry and the
    reader must tell its client (``replay_window_exceeded``). ``cursor`` is where the next read continues:
    the last entry's position, or, for an empty page, the position everything up to which was read."""

    entries: Sequence[Entry]
    cursor: Position
    found: bool


class EventLog(Protocol):
    """Append-ordered event log. Listeners see every entry exactly once, in position order."""

    async def append(self, events: Sequence[StreamEvent]) -> None:
        """Append in order; the events reach every listener (and so every subscriber) in this order."""
        ...

    async def read_after(self, last_event_id: str | None, limit: int) -> ReplayPage:
        """Up to ``limit`` retained entries after the event ``last_event_id``; ``None`` = from the oldest."""
        ...

    async def read_from(self, cursor: Position, limit: int) -> ReplayPage:
        """Up to ``limit`` retained entries after ``cursor`` (a ``ReplayPage.cursor``)."""
        ...

    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        """Call ``listener`` for every entry appended from now on; it must never block or await.

        ``on_gap`` is called when entries were lost before this process could hand them out: a shared
        log that was unreachable while they left its window, or that came back empty after a restart.
        The entries that follow come after the gap; none is ever handed out twice."""
        ...

    def remove_listener(self, listener: Listener) -> None:
        """Forget ``listener`` and its ``on_gap``."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class LocalEventLog:
    """Single-process log: the newest ``max_events`` events, none older than ``max_age_seconds``.

    Positions are dense (1, 2, 3, ...), so an entry is found by position in O(1) and by id through an
    index cleaned on eviction. Listeners are called synchronously inside ``append``; a failing listener
    is logged and never fails the dispatch that appended."""

    def __init__(self, max_events: int, max_age_seconds: int, now: Callable[[], datetime]) -> None:
        self._max_events = max(max_events, 0)
        self._max_age = timedelta(seconds=max_age_seconds)
        self._now = now
        self._entries: dict[Position, Entry] = {}
        self._index: dict[str, Position] = {}
        self._first: Position = 1  # oldest retained position; head + 1 when the window is empty
        self._head: Position = 0  # newest appended position
        self._listeners: tuple[Listener, ...] = ()

    @property
    def head(self) -> Position:
        """Position of the newest appended event (0 before the first); also the count ever appended."""
        return self._head

    @property
    def size(self) -> int:
        """Events currently in the window (without applying the age bound first)."""
        return len(self._entries)

    async def append(self, events: Sequence[StreamEvent]) -> None:
        entries = self._entries
        index = self._index
        for event in events:
            self._head = position = self._head + 1
            entry = Entry(position, event)
            entries[position] = entry
            index[event.id] = position
            if len(entries) > self._max_events:
                self._evict_oldest()
            for listener in self._listeners:
                try:
                    listener(entry)
                except Exception:
                    log.exception("event log listener failed", extra={"event_id": event.id})
        if events and entries:
            self._trim_age(self._now())

    async def read_after(self, last_event_id: str | None, limit: int) -> ReplayPage:
        if last_event_id is None:
            return self._page(self._first, limit, self._first - 1, found=True)
        position = self._index.get(last_event_id)
        if position is None:
            position = self._index.get(last_event_id.lower())
        if position is None:
            return self._page(self._first, limit, self._first - 1, found=False)
        return self._page(position + 1, limit, position, found=True)

    async def read_from(self, cursor: Position, limit: int) -> ReplayPage:
        if cursor + 1 < self._first:
            return self._page(self._first, limit, self._first - 1, found=False)
        return self._page(cursor + 1, limit, cursor, found=True)

    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        """``on_gap`` is never called: listeners run inside ``append``, so they cannot miss an entry."""
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners = tuple(known for known in self._listeners if known != listener)  # bound methods: ==

    def retained(self) -> list[StreamEvent]:
        """Events inside the replay window, oldest first."""
        self.trim()
        return [entry.event for entry in self._entries.values()]

    def trim(self) -> int:
        """Evict events past the age bound (the count bound holds after every append)."""
        return self._trim_age(self._now())

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners = ()

    def _page(self, start: Position, limit: int, cursor: Position, *, found: bool) -> ReplayPage:
        start = max(start, self._first)
        stop = min(start + max(limit, 1), self._head + 1)
        entries = [self._entries[position] for position in range(start, stop)]
        return ReplayPage(entries, entries[-1].position if entries else cursor, found)

    def _evict_oldest(self) -> None:
        entry = self._entries.pop(self._first)
        self._first += 1
        event_id = entry.event.id
        position = self._index.pop(event_id, None)
        if position is not None and position != entry.position:
            self._index[event_id] = position  # a later event reused the id; keep its mapping

    def _trim_age(self, now: datetime) -> int:
        cutoff = now - self._max_age
        entries = self._entries
        dropped = 0
        while entries and entries[self._first].event.timestamp < cutoff:
            self._evict_oldest()
            dropped += 1
        return dropped
