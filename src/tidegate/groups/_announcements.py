"""Adds of this process whose ``group_event_added`` is not in the event log yet, per group key.

stream.md §1.8 orders a group's events: every member's ``group_event_added`` before its
``group_flushed``. A member's event is appended by its dispatch's record step, a few milliseconds after
the add was written, so a flush racing that window waits here until the adds it saw have been announced.
The wait is bounded: a stuck record step delays a flush by at most ``timeout`` seconds."""

from __future__ import annotations

import asyncio

__all__ = ["Announcements"]


class Announcements:
    def __init__(self, timeout: float = 2.0) -> None:
        self._timeout = timeout
        self._open: dict[str, set[asyncio.Event]] = {}

    def open(self, group_key: str) -> asyncio.Event:
        """Called before an add is written; pass the ticket to ``close`` once its event is appended."""
        ticket = asyncio.Event()
        self._open.setdefault(group_key, set()).add(ticket)
        return ticket

    def close(self, group_key: str, ticket: asyncio.Event) -> None:
        """Idempotent; also called when the add or its record step failed."""
        ticket.set()
        tickets = self._open.get(group_key)
        if tickets is not None:
            tickets.discard(ticket)
            if not tickets:
                del self._open[group_key]

    async def settled(self, group_key: str) -> None:
        """Wait until every add of ``group_key`` open now has been announced (or the timeout passed)."""
        tickets = list(self._open.get(group_key, ()))
        if not tickets:
            return
        try:
            async with asyncio.timeout(self._timeout):
                for ticket in tickets:
                    await ticket.wait()
        except TimeoutError:
            return

    def __len__(self) -> int:
        return sum(len(tickets) for tickets in self._open.values())
