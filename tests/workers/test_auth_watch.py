"""The auth-file watcher: a change is applied once the file has been still for the settle time."""

from __future__ import annotations

import os
from pathlib import Path

from tidegate.workers.auth_watch import AuthFileWatcher


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0
        self.reloads = 0

    def monotonic(self) -> float:
        return self.now

    def reload(self) -> bool:
        self.reloads += 1
        return True


def _touch(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


async def test_reloads_once_after_the_writes_settle(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    _touch(path, "users: []\n", 1_000)
    ticks = Ticks()
    watcher = AuthFileWatcher(path, ticks.reload, settle=0.5, monotonic=ticks.monotonic)
    await watcher.tick()
    assert ticks.reloads == 0  # unchanged since start
    _touch(path, "users: []\n# 1\n", 2_000)
    await watcher.tick()  # change seen at t=0
    ticks.now = 0.3
    _touch(path, "users: []\n# 12\n", 3_000)
    await watcher.tick()  # another write: the settle time restarts
    ticks.now = 0.6
    await watcher.tick()
    assert ticks.reloads == 0
    ticks.now = 0.81
    await watcher.tick()
    assert ticks.reloads == 1
    ticks.now = 5.0
    await watcher.tick()
    assert ticks.reloads == 1  # nothing new


async def test_a_replaced_or_removed_file_counts_as_a_change(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    _touch(path, "a", 1_000)
    ticks = Ticks()
    watcher = AuthFileWatcher(path, ticks.reload, settle=0.0, monotonic=ticks.monotonic)
    replacement = tmp_path / "new.yaml"
    _touch(replacement, "b", 1_000)  # same size and mtime: only the inode differs
    replacement.replace(path)
    await watcher.tick()
    await watcher.tick()
    assert ticks.reloads == 1
    path.unlink()
    await watcher.tick()
    await watcher.tick()
    assert ticks.reloads == 2  # the reload reports the missing file and keeps the identities
