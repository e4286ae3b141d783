"""The event spool (features.md §11 "Write failures"): stream events whose append failed after their
action took effect wait on local disk, in order, until the shared event log takes them.

One line per event (the JSON the log stores), fsync'd before ``append`` returns, so neither an outage nor
a crash loses an accepted action's events. ``replay`` appends them in file order and then cuts them from
the file. Processes sharing a data directory (uvicorn workers) share the file: every operation holds an
exclusive ``flock`` on a lock file beside it, a replay from its read to its cut, so two replays never
cut each other's lines. Event logs skip an event id they already hold, so a replay repeated after a
crash or a timeout appends nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from tidegate.model.event import StreamEvent
from tidegate.stream.codec import decode_entry, encode_data
from tidegate.stream.log import EventLog

__all__ = ["EventSpool"]

log = logging.getLogger(__name__)

#: Events handed to the log per ``append`` call during a replay, and at most per replay.
_CHUNK, _REPLAY_LIMIT = 256, 10_000


class EventSpool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        # In-process turn for the file lock: a waiter waits here, not in a thread blocked on flock, so
        # spooling dispatches cannot take every worker thread while a replay needs one (deadlock).
        self._turn = asyncio.Lock()
        self._holding = not self.is_empty()

    @property
    def holds_events(self) -> bool:
        """True from this process's first spooled event until a replay empties the file: meanwhile new
        events are spooled too, behind the older ones, instead of overtaking them in the log."""
        return self._holding

    def is_empty(self) -> bool:
        try:
            return self.path.stat().st_size == 0
        except FileNotFoundError:
            return True

    def append(self, events: Sequence[StreamEvent]) -> None:
        """Add the events durably, in order. Blocking file I/O: call it through ``asyncio.to_thread``."""
        data = b"".join(encode_data(event) + b"\n" for event in events)
        with self._locked():
            created = not self.path.exists()
            if created:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # end a line cut short by a crash; replay drops it
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)
            self._holding = True

    async def add(self, events: Sequence[StreamEvent]) -> None:
        """``append`` off the event loop, taking its turn with replays of this process."""
        async with self._turn:
            await asyncio.to_thread(self.append, events)

    async def replay(self, log: EventLog) -> int:
        """Append the spooled events to ``log`` in order; returns how many were appended.

        Appended events are cut from the file even when a later append fails; that failure is then
        raised (``BackendUnavailable``) and the rest stays for the next replay."""
        async with self._turn:
            lock = await asyncio.to_thread(self._acquire)
            try:
                return await self._replay_locked(log)
            finally:
                os.close(lock)

    async def _replay_locked(self, log: EventLog) -> int:
        data = await asyncio.to_thread(self._read)
        lines = data.splitlines(keepends=True)[:_REPLAY_LIMIT]
        consumed = written = 0
        try:
            for start in range(0, len(lines), _CHUNK):
                chunk = lines[start : start + _CHUNK]
                events = [event for event in map(_parse, chunk) if event is not None]
                await log.append(events)
                written += len(events)
                consumed += sum(map(len, chunk))
        finally:
            if consumed:
                await asyncio.to_thread(self._drop_prefix, consumed)
        if self.is_empty():
            self._holding = False
        return written

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = self._acquire()
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _acquire(self) -> int:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def _drop_prefix(self, size: int) -> None:
        """Cut the first ``size`` bytes (the lock is held), keeping anything appended since."""
        rest = self.path.read_bytes()[size:]
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, rest)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)


def _parse(line: bytes) -> StreamEvent | None:
    if not line.strip():
        return None
    try:
        return decode_entry(0, line.rstrip(b"\n")).event
    except ValueError as exc:
        log.error("event spool: dropping a line that is not an event (%s)", exc)
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
