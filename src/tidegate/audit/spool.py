"""The audit spool (features.md §11 "Write failures"): records whose write failed after the action took
effect wait on local disk, in order, until the audit store takes them.

One JSON line per record (``AuditRecord.to_json``), fsync'd before ``append`` returns, so a crash loses
nothing. ``replay`` hands the lines back to the store in order and then cuts them from the file. Audit
stores ignore a record id they already hold, so a replay repeated after a crash or a timeout never
writes a record twice."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

from tidegate.audit.base import AuditStore
from tidegate.errors import BackendUnavailable
from tidegate.model.audit import AuditRecord
from tidegate.model.json import dumps, loads

__all__ = ["AuditSpool"]

log = logging.getLogger(__name__)

#: Records replayed concurrently, so that a long spool shares group commits instead of one per record.
_REPLAY_CHUNK = 256


class AuditSpool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # appends arrive from worker threads (asyncio.to_thread)
        self._replaying = asyncio.Lock()

    def append(self, record: AuditRecord) -> None:
        """Add one record durably. Blocking file I/O: call it through ``asyncio.to_thread``."""
        line = dumps(record.to_json()) + b"\n"
        with self._lock:
            created = not self.path.exists()
            if created:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # end a line cut short by a crash; replay drops it
                _write_all(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)

    def is_empty(self) -> bool:
        try:
            return self.path.stat().st_size == 0
        except FileNotFoundError:
            return True

    async def replay(self, store: AuditStore) -> int:
        """Write the spooled records to ``store`` in order; returns how many were written.

        Written records are removed from the file even when a later one fails; that failure is then
        raised as ``BackendUnavailable`` and the rest stays for the next replay. Records spooled
        meanwhile are kept. A line that is not a record (a crash mid-write) is logged and dropped."""
        async with self._replaying:
            data = await asyncio.to_thread(self._read)
            written, consumed = 0, 0
            try:
                for chunk in _chunks(data):
                    records = [record for _, record in chunk if record is not None]
                    results = await asyncio.gather(
                        *(store.append(r) for r in records), return_exceptions=True
                    )
                    failed = next((result for result in results if isinstance(result, BaseException)), None)
                    done = results.index(failed) if failed is not None else len(records)
                    for size, record in chunk:
                        if record is not None:
                            if done == 0:
                                break
                            done -= 1
                            written += 1
                        consumed += size
                    if failed is not None:
                        if isinstance(failed, BackendUnavailable):
                            raise failed
                        raise BackendUnavailable("audit spool replay failed") from failed
            finally:
                if consumed:
                    await asyncio.to_thread(self._drop_prefix, consumed)
            return written

    def _read(self) -> bytes:
        with self._lock:
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return b""

    def _drop_prefix(self, size: int) -> None:
        """Cut the first ``size`` bytes, keeping anything appended since they were read."""
        with self._lock:
            rest = self.path.read_bytes()[size:]
            if not rest:
                with open(self.path, "r+b") as file:
                    file.truncate(0)
                    os.fsync(file.fileno())
                return
            temporary = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, rest)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
            _fsync_dir(self.path.parent)


def _chunks(data: bytes) -> list[list[tuple[int, AuditRecord | None]]]:
    """Split the file into (bytes consumed, record or None for a bad line), in chunks for replay."""
    entries: list[tuple[int, AuditRecord | None]] = []
    for line in data.splitlines(keepends=True):
        entries.append((len(line), _parse(line)))
    return [entries[i : i + _REPLAY_CHUNK] for i in range(0, len(entries), _REPLAY_CHUNK)]


def _parse(line: bytes) -> AuditRecord | None:
    if not line.strip():
        return None
    try:
        value = loads(line)
        if not isinstance(value, dict):
            raise TypeError("not an object")
        return AuditRecord.from_json(value)
    except (ValueError, TypeError, KeyError) as exc:
        log.error("audit spool: dropping a line that is not an audit record (%s)", type(exc).__name__)
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
