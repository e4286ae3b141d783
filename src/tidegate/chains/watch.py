"""Wake-ups for per-execution streams: the chain engine says "this run changed", streams wait for it.

A notification carries no data; a woken stream re-reads the durable history, so a missed or spurious
wake-up costs a read, never an entry. Other instances' changes arrive through ``notify`` too: the event
log's listener (``on_log_entry``) turns every ``chain_*`` event into a notification, and a stream also
re-reads on a bounded poll for whatever no event announces (``processing`` has no event).

A stream takes a ``Ticket`` *before* it reads the history and waits on that ticket afterwards, so a
change committed between the read and the wait still wakes it (the ticket stays set until taken)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from tidegate.model.event import EventType
from tidegate.stream.log import Entry

__all__ = ["CHAIN_EVENT_TYPES", "ExecutionWatch", "Ticket"]

#: The ``/v1/stream`` events a history append produces (stream.md §2.3); each names its ``chain_id``.
CHAIN_EVENT_TYPES = frozenset(
    {EventType.CHAIN_ADVANCED, EventType.CHAIN_STEP_COMPLETED, EventType.CHAIN_COMPLETED}
)


class Ticket:
    """One stream's registration for one run: set by every ``notify`` from its creation on.

    Close it (or use ``with``) when the stream ends; a closed watch sets every ticket for good."""

    __slots__ = ("_chain_id", "_event", "_watch")

    def __init__(self, watch: ExecutionWatch, chain_id: str) -> None:
        self._watch = watch
        self._chain_id = chain_id
        self._event = asyncio.Event()
        if watch.closed:
            self._event.set()

    @property
    def chain_id(self) -> str:
        return self._chain_id

    def wake(self) -> None:
        """Wake the waiter now (the stream is being stopped, or the run changed)."""
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait until a notification since the last wait (or since creation), or ``seconds`` pass.

        True when notified; the notification is consumed, unless the watch is closed (then every wait
        returns True at once, so a draining stream ends without delay)."""
        event = self._event
        if not event.is_set():
            try:
                async with asyncio.timeout(max(seconds, 0.0)):
                    await event.wait()
            except TimeoutError:
                return False
        if not self._watch.closed:
            event.clear()
        return True

    def close(self) -> None:
        self._watch._forget(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ExecutionWatch:
    def __init__(self) -> None:
        self._tickets: dict[str, set[Ticket]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """The server is draining: streams end (clients reconnect elsewhere with ``Last-Event-ID``)."""
        return self._closed

    def notify(self, chain_id: str) -> None:
        """Wake every stream waiting on ``chain_id``; cheap and synchronous, safe to call after any append."""
        for ticket in self._tickets.get(chain_id, ()):
            ticket.wake()

    def notify_all(self) -> None:
        """Wake every stream: the event log lost entries, so any run may have changed unannounced."""
        for tickets in self._tickets.values():
            for ticket in tickets:
                ticket.wake()

    def on_log_entry(self, entry: Entry) -> None:
        """Event-log listener: a ``chain_*`` event from any instance wakes the streams of its run."""
        event = entry.event
        if event.type in CHAIN_EVENT_TYPES:
            chain_id = event.fields.get("chain_id")
            if isinstance(chain_id, str):
                self.notify(chain_id)

    def ticket(self, chain_id: str) -> Ticket:
        """Register for ``chain_id`` now; take it before reading the history, wait on it after."""
        ticket = Ticket(self, chain_id)
        self._tickets.setdefault(chain_id, set()).add(ticket)
        return ticket

    async def wait(self, chain_id: str, timeout: float) -> bool:  # noqa: ASYNC109 (the seam's signature)
        """Wait until ``notify(chain_id)`` or ``timeout`` seconds; True when notified.

        Registers only now: a notification before the call is lost. Streams use ``ticket`` instead."""
        with self.ticket(chain_id) as ticket:
            return await ticket.wait(timeout)

    def close(self) -> None:
        """Drain: wake every stream for good; tickets taken later are set from the start. Idempotent."""
        self._closed = True
        self.notify_all()

    def _forget(self, ticket: Ticket) -> None:
        tickets = self._tickets.get(ticket.chain_id)
        if tickets is None:
            return
        tickets.discard(ticket)
        if not tickets:
            del self._tickets[ticket.chain_id]
