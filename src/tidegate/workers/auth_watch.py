"""Watch the auth file and reload it after changes settle (security.md §2: a change is noticed within
1 s and applied 500 ms after the last write). Polls ``os.stat`` (size, mtime, inode), so an editor's
atomic rename counts as a change too; no inotify dependency."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["AuthFileWatcher", "file_snapshot"]

Snapshot = tuple[int, int, int]


def file_snapshot(path: Path) -> Snapshot | None:
    """Size, mtime and inode of the file; None when it is missing or unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


class AuthFileWatcher:
    """One ``tick`` per poll; ``reload`` (blocking file I/O) runs in a thread once the file is stable."""

    def __init__(
        self,
        path: Path,
        reload: Callable[[], bool],
        *,
        settle: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._reload = reload
        self._settle = settle
        self._monotonic = monotonic
        self._applied = file_snapshot(path)
        self._seen = self._applied
        self._changed_at: float | None = None

    async def tick(self) -> None:
        current = file_snapshot(self._path)
        now = self._monotonic()
        if current != self._seen:
            self._seen = current
            self._changed_at = now
            return
        if current == self._applied or self._changed_at is None or now - self._changed_at < self._settle:
            return
        self._applied = current  # a bad file is not retried until it changes again
        self._changed_at = None
        await asyncio.to_thread(self._reload)
