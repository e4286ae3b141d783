"""The event log on one Redis Stream, shared by every instance (stream.md §1.10-§1.12).

Keys ``{prefix}:events:log`` (the stream), ``:ids`` (event id → entry, for ``Last-Event-ID``) and
``:last`` (the newest entry id ever assigned); ``redis_log_scripts.py`` describes them.

- **Append**: one script per call XADDs the events in order with explicit ids taken from the
  appender's clock (never below ``last``), trims by count approximately (MAXLEN ~, whole stream nodes)
  and drops index members of evicted entries. A batch is atomic and contiguous; an event already
  indexed is skipped, so re-appending a spooled event is harmless. A Redis that does not answer fails
  the call at once with ``BackendUnavailable``.
- **Positions**: entry id ``ms-seq`` ↔ ``ms << 20 | seq`` (the script keeps seq < 2^20), ordered like
  the ids and below 2^62 until the year 2109.
- **Continuity**: each entry records its predecessor's id, so a reader continuing after entry P knows
  nothing was lost iff the first entry it gets names P, or, when it gets none, iff ``last`` is P. A
  Redis restarted without persistence has no ``last``: what followed P is gone, reported as a gap.
- **Live delivery**: one task per process XREAD BLOCKs after the last delivered entry on its own
  connection and hands entries to the listeners in order, so every instance delivers one order. An
  append whose first entry directly follows the last delivered one (the script returns its predecessor)
  hands its own entries over at once: same order, and no XREAD needed to deliver them. An XREAD that
  brings only this process's entries makes the tail wait until the process has not appended for
  ``_LINGER`` before blocking again: meanwhile each append finds another instance's entries itself (its
  predecessor is not the last delivered entry) and wakes the tail, so a busy appender neither wakes
  its tail nor has it read back and parse its own entries; only other instances' entries appended
  after its last append can wait a linger. While Redis is unreachable the
  task retries with backoff and live streams stay open; on recovery it continues after the last
  delivered entry, announcing a gap first when that entry's successors were evicted meanwhile or the
  stream came back empty.
- **Append connection**: appends run their script on a connection kept at hand between calls rather
  than going through the pool each time (its checkout costs about as much CPU as the round trip). Only
  with a pool of two or more, so reads never wait for it. A kept connection Redis closed meanwhile (a
  restart) fails its next append with a connection error: that append is retried once on a connection
  from the pool, which is safe since an event already indexed is skipped. While every pooled
  connection is out, a finished append returns its connection to the pool instead: kept connections
  passed from one append to the next would bypass the pool's queue and starve its waiters until they
  time out.
- **Retention**: besides the approximate trim on append, the tail trims exactly by count and by age
  (MINID on the appenders' clock) every ``trim_interval`` seconds; ``trim`` does it on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tidegate.errors import BackendUnavailable
from tidegate.model.event import StreamEvent
from tidegate.model.time import to_micros
from tidegate.store.redis_pool import new_redis_pool
from tidegate.stream import redis_log_scripts as lua
from tidegate.stream.codec import decode_entry, encode_data, known_entry, lookup_key
from tidegate.stream.listeners import Listeners
from tidegate.stream.log import Entry, GapListener, Listener, Position, ReplayPage

__all__ = ["RedisEventLog", "entry_id", "position_of"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_RawEntry = tuple[str, dict[bytes, bytes]]

#: Entries one XREAD hands to the listeners at most.
_TAIL_BATCH = 512
#: Event ids the tail remembers having delivered. An append that timed out may still have landed
#: and been spooled too; the index skips the second copy, unless Redis lost the index meanwhile
#: (restarted empty): then this memory keeps the copy from reaching a subscriber twice.
_RECENT_IDS = 10_000
#: Backoff of the tail while Redis does not answer: first and longest wait.
_FIRST_RETRY, _MAX_RETRY = 0.05, 2.0
_NONE = "0-0"  # the id before every entry
#: How long this process must not have appended before the tail reads again after an XREAD that brought
#: only entries it had already handed over: the longest another instance's entry waits after this one's
#: last append (while it keeps appending, its appends find such entries themselves).
_LINGER = 0.005


def position_of(entry: str) -> Position:
    """The position of entry id ``ms-seq``."""
    ms, _, seq = entry.partition("-")
    return int(ms) << 20 | int(seq)


def entry_id(position: Position) -> str:
    """The entry id of a position (inverse of ``position_of``)."""
    return f"{position >> 20}-{position & (lua.SEQ_LIMIT - 1)}"


@dataclass(frozen=True, slots=True)
class _Read:
    last: str | None  # the newest entry id ever assigned; None: the stream is new (or was lost)
    found: bool  # mode 'id': the event is retained
    start: str  # exclusive start id of the range read; '' = from the oldest
    raw: list[_RawEntry]


class RedisEventLog:
    def __init__(
        self,
        url: str,
        now: Callable[[], datetime],
        *,
        key_prefix: str = "tidegate",
        max_events: int = 10_000,
        max_age_seconds: int = 3600,
        pool_size: int = 4,
        operation_timeout: float = 2.0,
        block_seconds: float = 2.0,
        trim_interval: float = 60.0,
        linger_seconds: float = _LINGER,
    ) -> None:
        """``block_seconds``: how long one XREAD waits; also how often an idle tail checks its trim timer.
        ``linger_seconds``: the tail's wait after a read of this process's own entries (``_LINGER``)."""
        self._linger = linger_seconds
        self._now = now
        self._max_events = max(max_events, 0)
        self._max_age_ms = max_age_seconds * 1000
        self._timeout = operation_timeout
        self._block = block_seconds
        self._trim_interval = trim_interval
        base = f"{key_prefix}:events:"
        self.key_prefix = key_prefix
        self._keys = [f"{base}log", f"{base}ids", f"{base}last"]
        self._key_args = [str(len(self._keys)).encode(), *(key.encode() for key in self._keys)]
        self._pool = new_redis_pool(
            url, size=pool_size, timeout=operation_timeout, client_name="tidegate-events"
        )
        self._client = Redis(connection_pool=self._pool)
        self._tail_pool = new_redis_pool(
            url,
            size=1,
            timeout=operation_timeout,
            client_name="tidegate-events-tail",
            read_timeout=block_seconds + operation_timeout,
        )
        self._tail_client = Redis(connection_pool=self._tail_pool)
        self._append_script = self._client.register_script(lua.APPEND)
        self._read_script = self._client.register_script(lua.READ)
        self._trim_script = self._client.register_script(lua.TRIM)
        self._listeners = Listeners()
        self._delivered = _NONE  # id of the newest entry handed to the listeners
        self._recent: deque[bytes] = deque()
        self._recent_set: set[bytes] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = True
        self._down = False
        self._resyncing = False  # the tail checks the stream after a failure: no hand-over meanwhile
        self._behind = asyncio.Event()  # an append found entries the tail has not delivered yet
        self._appended_at = 0.0  # time.monotonic() of this process's latest append handed over
        self._appending: set[bytes] = set()  # event ids of this process's appends in flight
        self._kept: AbstractConnection | None = None  # the append connection kept at hand
        self._keep = pool_size > 1

    @property
    def delivered(self) -> Position:
        """Position of the newest entry handed to the listeners (0 before the first)."""
        return position_of(self._delivered)

    async def open(self) -> None:
        """Check that Redis answers (else BackendUnavailable), then tail from the newest entry on."""
        if self._task is not None:
            return
        self._closed = False
        try:
            last = await self._call(lambda: self._client.get(self._keys[2]))
        except BackendUnavailable:
            self._closed = True
            raise
        self._delivered = _text(last) if last else _NONE
        self._task = asyncio.get_running_loop().create_task(self._tail(), name="tidegate:event-log-tail")

    async def append(self, events: Sequence[StreamEvent]) -> None:
        if not events:
            return
        now_ms = to_micros(self._now()) // 1000
        args = [str(now_ms).encode(), str(self._max_events).encode() if self._max_events else b""]
        data = [encode_data(event) for event in events]
        own = [event.id.lower().encode() for event in events]
        for event_id, blob in zip(own, data, strict=True):
            args += [event_id, blob]
        self._appending.update(own)
        try:
            reply = await self._call(partial(self._run_append, args))
        finally:
            self._appending.difference_update(own)
        before, *idents = _text(reply).split(" ")
        self._appended_at = time.monotonic()
        self._hand_over(before, idents, own, data, events)

    async def read_after(self, last_event_id: str | None, limit: int) -> ReplayPage:
        key = None if last_event_id is None else lookup_key(last_event_id)
        if key is not None:
            read = await self._read("id", key, limit)
            if read.found:
                return self._page(read, True, position_of(read.start))
            return self._oldest_page(read, found=False)
        return self._oldest_page(await self._read("oldest", "", limit), found=last_event_id is None)

    async def read_from(self, cursor: Position, limit: int) -> ReplayPage:
        start = entry_id(cursor)
        read = await self._read("after", start, limit)
        if read.raw:
            return self._page(read, read.raw[0][1].get(b"p") == start.encode(), cursor)
        if read.last is None:  # a new stream: continuous only for a reader that had read nothing
            return ReplayPage((), 0, found=cursor == 0)
        if read.last == start:
            return ReplayPage((), cursor, found=True)
        return ReplayPage((), position_of(read.last), found=False)  # everything after it was evicted

    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        self._listeners.add(listener, on_gap)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    async def trim(self) -> int:
        """Evict exactly past the count and age bounds; returns how many entries were removed."""
        min_ms = max(0, to_micros(self._now()) // 1000 - self._max_age_ms)
        args: list[str | int] = [self._max_events, f"{min_ms}-0"]
        return int(await self._call(partial(self._trim_script, keys=self._keys, args=args)))

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def close(self) -> None:
        """Stop the tail, forget the listeners and disconnect; later calls raise BackendUnavailable."""
        self._closed = True
        kept, self._kept = self._kept, None
        if kept is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pool.release(kept)  # disconnected with the others below
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        for pool in (self._tail_pool, self._pool):  # the tail's first: a blocked XREAD ends at once
            with contextlib.suppress(RedisError, OSError):
                await pool.disconnect()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        self._listeners.clear()

    async def _run_append(self, args: list[bytes]) -> Any:
        """The append script's reply, on the kept connection (see the module docstring)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            try:
                return await self._evalsha_on(kept, args)
            except RedisConnectionError:
                pass  # closed while kept (a restart?): once more on a pooled connection, which is
                # safe: had the script run, the second run skips the events it already indexed
        return await self._evalsha_on(await self._pool.get_connection(), args)

    async def _evalsha_on(self, conn: AbstractConnection, args: list[bytes]) -> Any:
        """EVALSHA of the append script on ``conn``, loading the script when Redis lacks it; ``conn``
        is kept at hand afterwards, or returned to the pool (disconnected when it failed)."""
        script, keep = self._append_script, False
        keys = self._key_args
        try:
            await _send(conn, _pack([b"EVALSHA", script.sha.encode(), *keys, *args]))
            try:
                reply = await conn.read_response()
            except NoScriptError:  # Redis restarted (or flushed its scripts): load, then once more
                body = script.script
                await _send(
                    conn, _pack([b"SCRIPT", b"LOAD", body.encode() if isinstance(body, str) else bytes(body)])
                )
                script.sha = _text(await conn.read_response())
                await _send(conn, _pack([b"EVALSHA", script.sha.encode(), *keys, *args]))
                reply = await conn.read_response()
            keep = True
            return reply
        except ResponseError:
            keep = True  # the script failed, the connection is fine
            raise
        except BaseException:
            await conn.disconnect(nowait=True)  # its state is unknown: never reuse it
            raise
        finally:
            if keep and self._keep and self._kept is None and not self._closed and not self._pool.contended:
                self._kept = conn
            else:
                await self._pool.release(conn)

    # -- reading -----------------------------------------------------------------------------------

    async def _read(self, mode: str, argument: str, limit: int) -> _Read:
        args: list[str | int] = [mode, argument, max(limit, 1)]
        reply = await self._call(partial(self._read_script, keys=self._keys, args=args))
        last, found, start, raw = reply
        entries = [(_text(item[0]), _fields(item[1])) for item in raw]
        return _Read(_text(last) or None, int(found) == 1, _text(start), entries)

    def _page(self, read: _Read, found: bool, cursor: Position) -> ReplayPage:
        """The entries read; ``cursor`` is the position reading continues after when there are none."""
        entries = self._decode(read.raw)
        last = position_of(read.raw[-1][0]) if read.raw else cursor
        return ReplayPage(entries, last, found)

    def _oldest_page(self, read: _Read, *, found: bool) -> ReplayPage:
        empty_cursor = position_of(read.last) if read.last else 0
        return self._page(read, found, empty_cursor)

    @staticmethod
    def _decode(raw: list[_RawEntry]) -> list[Entry]:
        entries = []
        for ident, fields in raw:
            entry = _entry(ident, fields.get(b"e"))
            if entry is not None:
                entries.append(entry)
        return entries

    # -- live delivery -----------------------------------------------------------------------------

    def _hand_over(
        self,
        before: str,
        idents: list[str],
        event_ids: list[bytes],
        data: list[bytes],
        events: Sequence[StreamEvent],
    ) -> None:
        """Deliver an append's own entries when they directly follow the last delivered one (the
        events are at hand: nothing is decoded); else leave them to the tail, hurrying it when it is
        behind."""
        if self._task is None or self._resyncing or before != self._delivered:
            if _order(before) > _order(self._delivered):
                self._behind.set()
            return
        for ident, event_id, blob, event in zip(idents, event_ids, data, events, strict=True):
            if ident:  # '' : already in the log, skipped by the script
                self._delivered = ident
                if self._fresh(event_id):
                    self._listeners.deliver(known_entry(position_of(ident), event, blob))

    async def _tail(self) -> None:
        loop = asyncio.get_running_loop()
        delay, resync = _FIRST_RETRY, False
        next_trim = loop.time() + self._trim_interval
        while not self._closed:  # also ends a tail whose cancellation a client library swallowed
            try:
                if resync:
                    await self._resync()
                    resync = False
                raw = await self._xread()
                self._resyncing = False
                if self._deliver(raw) == 0 and raw:  # woken by entries already handed over
                    await self._linger_while_appending()
                self._behind.clear()
                if self._down:
                    self._down = False
                    log.warning("event log (redis) answers again: live delivery resumed")
                if loop.time() >= next_trim:
                    next_trim = loop.time() + self._trim_interval
                    await self.trim()
                delay = _FIRST_RETRY
                continue
            except BackendUnavailable as exc:
                if self._closed:
                    return  # close() disconnected the XREAD under it: not an outage
                if not self._down:
                    self._down = True
                    log.warning("event log (redis) unavailable, live delivery paused: %s", exc.message)
            except Exception:  # a bug must not end live delivery for the life of the process
                log.exception("event log (redis) tail failed; retrying")
            resync = self._resyncing = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY)

    async def _linger_while_appending(self) -> None:
        """Wait until this process has not appended for a linger, or an append found the tail behind.

        While it keeps appending, each append finds another instance's entries itself (its predecessor
        is not the last delivered entry: ``_hand_over`` sets ``_behind``), so an XREAD meanwhile would
        only bring back, and parse, entries already handed over."""
        behind = self._behind
        while not behind.is_set():
            remaining = self._appended_at + self._linger - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await behind.wait()

    async def _xread(self) -> list[_RawEntry]:
        streams: dict[Any, Any] = {self._keys[0]: self._delivered}
        block_ms = max(1, round(self._block * 1000))
        try:
            async with asyncio.timeout(self._block + self._timeout):
                reply: Any = await self._tail_client.xread(streams, count=_TAIL_BATCH, block=block_ms)
        except (RedisError, OSError, TimeoutError) as exc:
            with contextlib.suppress(RedisError, OSError):  # its state is unknown: never reuse it
                await self._tail_pool.disconnect()
            raise _unavailable(exc) from exc
        if not reply:
            return []
        return [(_text(ident), fields) for ident, fields in reply[0][1]]

    async def _resync(self) -> None:
        """After an outage: a stream whose newest id is gone or went back was lost (or replaced)."""
        raw = await self._call(lambda: self._client.get(self._keys[2]))
        last = _text(raw) if raw else None
        if self._delivered == _NONE:
            return
        if last is None or _order(last) < _order(self._delivered):
            log.warning("event log (redis) lost its entries (restarted empty?): announcing a gap")
            self._listeners.gap()
            self._delivered = _NONE

    def _deliver(self, raw: list[_RawEntry]) -> int:
        """Hand the entries read to the listeners; returns how many came from other appenders."""
        foreign = 0
        for ident, fields in raw:
            if _order(ident) <= _order(self._delivered):
                continue  # handed over by this process's append while the XREAD was answered
            if fields.get(b"p", b"").decode() != self._delivered:
                self._listeners.gap()  # its predecessor is not the entry delivered last: some were evicted
            self._delivered = ident
            event_id = fields.get(b"i", b"")
            if event_id not in self._appending:
                foreign += 1
            self._publish(event_id, ident, fields.get(b"e"))
        return foreign

    def _publish(self, event_id: bytes, ident: str, data: bytes | None) -> None:
        """Deliver one entry read from the log unless its event was delivered recently."""
        if self._fresh(event_id):
            entry = _entry(ident, data)
            if entry is not None:
                self._listeners.deliver(entry)

    def _fresh(self, event_id: bytes) -> bool:
        """False for an event delivered recently (a spooled copy appended again); remembers it."""
        recent, recent_set = self._recent, self._recent_set
        if event_id in recent_set:
            return False
        recent.append(event_id)
        recent_set.add(event_id)
        if len(recent) > _RECENT_IDS:
            recent_set.discard(recent.popleft())
        return True

    # -- plumbing ----------------------------------------------------------------------------------

    async def _call(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        if self._closed:
            raise BackendUnavailable("event log (redis) is closed")
        try:
            async with asyncio.timeout(self._timeout):
                return await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from exc


def _pack(args: list[bytes]) -> bytes:
    """One command in the Redis protocol (RESP), as redis-py's ``pack_command`` writes it, at a
    fraction of its cost."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


async def _send(conn: AbstractConnection, payload: bytes) -> None:
    """Write one packed command; the caller's timeout bounds it. redis-py's ``send_packed_command`` wraps
    each write in ``asyncio.wait_for``, which costs a task per command."""
    if not conn.is_connected:
        await conn.connect()  # type: ignore[no-untyped-call]
    private = getattr(conn, "_send_packed_command", None)  # redis-py internals: used while they exist
    try:
        if private is not None:
            await private([payload])
        else:
            await conn.send_packed_command(payload, check_health=False)
    except OSError as exc:
        raise RedisConnectionError(f"Error while writing to Redis: {exc}") from exc


def _unavailable(exc: BaseException) -> BackendUnavailable:
    timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
    reason = "timed out" if timed_out else f"{type(exc).__name__}: {exc}"
    return BackendUnavailable(f"event log (redis) did not answer ({reason})")


def _entry(ident: str, data: bytes | None) -> Entry | None:
    try:
        if data is None:
            raise ValueError("no event field")
        return decode_entry(position_of(ident), data)
    except ValueError as exc:
        log.error("event log (redis): skipping entry %s that is not an event (%s)", ident, exc)
        return None


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def _order(ident: str) -> tuple[int, int]:
    ms, _, seq = ident.partition("-")
    return int(ms), int(seq)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
