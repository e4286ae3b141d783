"""Watch the rules directory and reload after changes settle (rules.md §11: seen within 1 s, applied
500 ms after the last change). Polls a cheap snapshot of (name, size, mtime); no inotify dependency."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tidegate.model.json import JsonObject

__all__ = ["RulesWatcher", "snapshot"]

log = logging.getLogger(__name__)

Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(directory: Path) -> Snapshot | None:
    """Names, sizes and mtimes of the rule files; None when the directory is missing."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return None
    items = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith((".yaml", ".yml")):
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        items.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(items)


class RulesWatcher:
    """One ``tick`` per poll; reloads once the snapshot has been stable for ``settle`` seconds."""

    def __init__(
        self,
        directory: Path,
        reload: Callable[[], Awaitable[JsonObject]],
        *,
        settle: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._reload = reload
        self._settle = settle
        self._monotonic = monotonic
        self._applied = snapshot(directory)
        self._seen = self._applied
        self._changed_at: float | None = None

    async def tick(self) -> None:
        current = snapshot(self._directory)
        now = self._monotonic()
        if current != self._seen:
            self._seen = current
            self._changed_at = now
            return
        if current == self._applied or self._changed_at is None or now - self._changed_at < self._settle:
            return
        self._applied = current
        self._changed_at = None
        result = await self._reload()
        if result.get("applied"):
            log.info("rules directory changed: reloaded %s rules", result.get("loaded"))
