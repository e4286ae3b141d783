"""The listeners of a shared event log: every entry handed to each in order, and gaps announced.

A shared log's tail task (or an append handing over its own entries right after the last delivered one)
is the only caller, so entries reach listeners one at a time, in position order. A listener that
raises is logged and skipped; it never stops delivery to the others, nor the tail."""

from __future__ import annotations

import logging

from tidegate.stream.log import Entry, GapListener, Listener

__all__ = ["Listeners"]

log = logging.getLogger(__name__)


class Listeners:
    def __init__(self) -> None:
        self._pairs: tuple[tuple[Listener, GapListener | None], ...] = ()

    def add(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        self._pairs = (*self._pairs, (listener, on_gap))

    def remove(self, listener: Listener) -> None:
        self._pairs = tuple(pair for pair in self._pairs if pair[0] != listener)  # bound methods: ==

    def clear(self) -> None:
        self._pairs = ()

    def deliver(self, entry: Entry) -> None:
        for listener, _ in self._pairs:
            try:
                listener(entry)
            except Exception:
                log.exception("event log listener failed", extra={"event_id": entry.event.id})

    def gap(self) -> None:
        for _, on_gap in self._pairs:
            if on_gap is None:
                continue
            try:
                on_gap()
            except Exception:
                log.exception("event log gap listener failed")
