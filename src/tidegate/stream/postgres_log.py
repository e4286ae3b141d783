"""The event log in one PostgreSQL table, shared by every instance (stream.md §1.10-§1.12).

Tables (``events`` schema track): ``{prefix}_events`` (identity ``position``, unique ``event_id``,
``created_at``, the event JSON) and ``{prefix}_events_meta`` (``trimmed_through``: the newest position
retention ever deleted).

- **Order without gaps.** A sequence hands out positions at insert, but transactions commit in any
  order: a reader could see 11 before 10 commits and skip 10 for ever. So every append takes a
  transaction-scoped advisory lock before drawing its positions and holds it until its commit: positions
  become visible strictly in order, and a reader that sees position p sees every committed position
  below it. The price, one append transaction at a time cluster-wide, is paid once per batch: a group
  commit (``GroupCommitter``) turns each process's concurrent appends into one statement (lock, insert,
  NOTIFY) per commit. Holes (a rolled-back insert, a skipped duplicate) are never filled; they lose
  nothing.
- **Gaps.** Entries disappear only through retention, which records how far it deleted; a reader
  continuing after p lost entries iff ``trimmed_through`` > p, read in the same statement as the rows.
- **Live delivery.** One task per process reads the rows after the last delivered position and hands
  them to the listeners in order. An append whose entries directly follow the last delivered position
  hands them over itself, from the events it holds (nothing is read back or decoded): the function
  that takes the lock in its statement returns the head (the newest position ever appended) as of the
  lock, read with a fresh snapshot (the statement's own predates the lock; a row updated per append
  instead would make one hot row), and when that is the delivered position no entry lies between
  (positions skipped in between are holes). Several batches of one group commit are handed over in
  position order after the commit.
  NOTIFY (sent by the append's own statement, so delivered at commit, with the new head as payload)
  only wakes the task, and only for a head beyond the delivered position; one that arrives while an
  append of this process is in flight waits for its hand-over, which usually covers it. The task
  listens on a dedicated connection that a watchdog pings and reconnects, and it
  polls every ``poll_interval`` anyway, so a lost NOTIFY or a dead listen connection delays an event,
  never loses it. A read that delivered rows is followed by the next one ``_LINGER`` later at the
  earliest: under a steady stream of appends one read delivers several of them instead of one read
  per append (each costs a query), for at most that much latency; an idle log's first append is read
  at once. While the database is down the task retries with backoff and live streams stay open.
- **Peers.** A NOTIFY only serves other instances (this one hands its own entries over), and it costs
  every commit a queue entry and a wake-up of each listening connection: an instance that knows of no
  peer leaves it out of its appends. Instances announce themselves on the channel (``hello`` once
  listening, answered with ``here``, then ``here`` with every watchdog ping) and forget a peer not
  heard from for ``_PEER_LIFETIMES`` of its watchdog intervals. An instance
  notifies while its listen connection is down, during ``_PEER_GRACE`` after it starts listening, and
  while it knows a peer; a newcomer's ``hello`` turns its peers' NOTIFYs back on at once (an append
  racing it is read by the newcomer's next poll).
- **Retention** (every ``trim_interval`` s, by each instance; cheap and idempotent): delete every row
  up to the newest one beyond the count bound or older than the age bound, and record that position.
- **Idempotent appends**: an event id already stored is skipped (a replayed spool appends it once).
  The statement first goes out without ``ON CONFLICT`` (a speculative insertion per row, paid for
  the rare repeat); a unique violation, or a retry after a lost connection, runs it with.
- **Companion rows**: when the audit trail lives in the same database, ``append_with`` writes a
  dispatch's audit record in its events' statement (``accompany``): one commit, so one durable-write wait,
  for both, and the record commits exactly when its events do."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from tidegate.errors import BackendUnavailable
from tidegate.group_commit import GroupCommitter
from tidegate.model.event import StreamEvent
from tidegate.postgres.migrator import migrate_pool
from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import Connection, PgPool, describe_url
from tidegate.stream.codec import decode_entry, encode_data, known_entry, lookup_key
from tidegate.stream.listeners import Listeners
from tidegate.stream.log import Entry, GapListener, Listener, Position, ReplayPage

__all__ = ["PostgresEventLog"]

log = logging.getLogger(__name__)

_Rows = Sequence[asyncpg.Record]
_Batch = list[tuple[str, bytes]]  # (event id, JSON) of one append call, in order
#: One append call: its (id, JSON) pairs, the companion row written in the same statement (or None),
#: and its events, for the hand-over.
_Item = tuple[_Batch, tuple[object, ...] | None, Sequence[StreamEvent]]

#: Rows one tail read hands to the listeners at most.
_TAIL_BATCH = 512
#: Backoff of the tail while the database does not answer: first and longest wait.
_FIRST_RETRY, _MAX_RETRY = 0.05, 2.0
#: Least time between two reads of the tail when the first delivered rows (see the module docstring).
_LINGER = 0.005
#: Presence payloads on the channel: ``tidegate-peer {hello|here} {token} {watchdog interval}``.
_PEER = "tidegate-peer"
#: A peer not heard from for this many of its watchdog intervals is gone.
_PEER_LIFETIMES = 3
#: Seconds (at most one watchdog interval) after the listen connection opens during which appends notify
#: whatever the peers are: time for the peers to answer ``hello``.
_PEER_GRACE = 1.0


class PostgresEventLog:
    def __init__(
        self,
        url: str,
        now: Callable[[], datetime],
        *,
        names: TableNames | None = None,
        max_events: int = 10_000,
        max_age_seconds: int = 3600,
        pool_size: int = 4,
        operation_timeout: float = 2.0,
        batch_size: int = 256,
        poll_interval: float = 0.5,
        watchdog_interval: float = 5.0,
        trim_interval: float = 60.0,
    ) -> None:
        self._url = url
        self._now = now
        self._names = names = names or TableNames()
        self._max_events = max(max_events, 0)
        self._max_age = timedelta(seconds=max_age_seconds)
        self._timeout = operation_timeout
        self._poll_interval = poll_interval
        self._watchdog_interval = watchdog_interval
        self._trim_interval = trim_interval
        self._where = f"event log ({describe_url(url)})"
        self._pool = PgPool(url, size=pool_size, timeout=operation_timeout, role="event log")
        digest = hashlib.sha256(names.table("events").encode()).digest()
        #: One lock and one channel per log table: deployments sharing a database never contend.
        self._lock_key = int.from_bytes(digest[:8], "big", signed=True)
        self._channel = f"tidegate_events_{digest[8:16].hex()}"
        self._sql = _Statements(names)
        self._committer: GroupCommitter[_Item] = GroupCommitter(
            self._write, batch_size=batch_size, name="event log"
        )
        self._listeners = Listeners()
        self._delivered: Position = 0
        self._wake = asyncio.Event()
        self._writing = 0  # appends of this process in flight
        self._announced: Position = 0  # the newest head a NOTIFY announced
        self._listen: asyncpg.Connection[asyncpg.Record] | None = None
        self._listening_since: float | None = None  # monotonic time the listen connection opened
        self._token = secrets.token_hex(8)  # tells this instance's presence messages from its peers'
        self._peers: dict[str, float] = {}  # peer token -> monotonic time it is forgotten
        self._greet = False  # a peer said hello: answer at the tail's next turn
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self._closing = False

    @property
    def names(self) -> TableNames:
        return self._names

    @property
    def delivered(self) -> Position:
        """Position of the newest entry handed to the listeners (or skipped past, in a gap)."""
        return self._delivered

    async def open(self) -> None:
        """Create the pool, bring the ``events`` track up to date, then tail from the newest row on."""
        if self._task is not None:
            return
        await self._pool.open()
        try:
            await migrate_pool(self._pool, self._names, "events")
            rows = await self._fetch(self._sql.head)
        except BaseException:
            await self._pool.close()
            raise
        self._delivered = int(rows[0]["head"])
        self._closing = False
        self._committer.start()
        self._task = asyncio.get_running_loop().create_task(self._tail(), name="tidegate:event-log-tail")

    async def append(self, events: Sequence[StreamEvent]) -> None:
        if not events:
            return
        if self._task is None:
            raise BackendUnavailable(f"{self._where} is not open")
        await self._committer.submit(
            ([(event.id.lower(), encode_data(event)) for event in events], None, events)
        )

    def accompany(self, url: str, insert: Callable[..., str]) -> bool:
        """Let ``append_with`` write rows of a table in the same database (the URL is this log's own)
        within the append's statement; ``insert(n)`` is an INSERT taking column arrays from ``$n`` on,
        ``insert(n, single=True)`` one taking a single row's values. Returns False, changing nothing,
        for another database."""
        if url != self._url:
            return False
        self._sql.accompany(insert)
        return True

    async def append_with(self, events: Sequence[StreamEvent], row: tuple[object, ...]) -> None:
        """Append ``events`` and write ``row`` (one value per column array of ``accompany``'s INSERT) in
        one transaction: both are committed, or neither is."""
        if self._sql.joint is None:
            raise RuntimeError("append_with needs accompany first")
        if self._task is None:
            raise BackendUnavailable(f"{self._where} is not open")
        await self._committer.submit(
            ([(event.id.lower(), encode_data(event)) for event in events], row, events)
        )

    async def read_after(self, last_event_id: str | None, limit: int) -> ReplayPage:
        key = None if last_event_id is None else lookup_key(last_event_id)
        if key is None:
            rows = await self._fetch(self._sql.read, 0, max(limit, 1))
            return self._page(rows, 0, found=last_event_id is None)
        rows = await self._fetch(self._sql.read_after_id, key, max(limit, 1))
        start = rows[0]["start"]
        if start is None:
            return self._page(rows, 0, found=False)
        return self._page(rows, int(start), found=True)

    async def read_from(self, cursor: Position, limit: int) -> ReplayPage:
        rows = await self._fetch(self._sql.read, cursor, max(limit, 1))
        return self._page(rows, cursor, found=cursor >= int(rows[0]["trimmed_through"]))

    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        self._listeners.add(listener, on_gap)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    async def trim(self) -> int:
        """Delete past the count and age bounds; returns how many rows were deleted."""
        cutoff = self._now() - self._max_age
        rows = await self._fetch(self._sql.trim, self._max_events, cutoff)
        return int(rows[0]["deleted"])

    async def ping(self) -> None:
        if self._task is None:
            raise BackendUnavailable(f"{self._where} is not open")
        await self._fetch("SELECT 1")

    async def close(self) -> None:
        """Commit what is queued, stop the tail, close the listen connection and the pool."""
        self._closing = True
        await self._committer.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._listeners.clear()
        await self._drop_listen_connection()
        await self._pool.close()

    # -- writing and reading -----------------------------------------------------------------------

    async def _write(self, items: list[_Item]) -> None:
        """One statement for every batch the group commit collected, in submission order, with their
        companion rows."""
        ids = [event_id for batch, _, _ in items for event_id, _ in batch]
        data = [blob for batch, _, _ in items for _, blob in batch]
        rows = [row for _, row, _ in items if row is not None]
        now = self._now()
        forms = self._sql.append
        values: list[object] = [list(column) for column in zip(*rows, strict=True)]
        if len(rows) == 1 and self._sql.joint_one is not None:  # set with joint (append_with checks)
            forms, values = self._sql.joint_one, list(rows[0])
        elif rows and self._sql.joint is not None:
            forms = self._sql.joint
        args = (self._lock_key, ids, data, now, self._channel, *values)

        async def insert(conn: Connection) -> asyncpg.Record | None:
            # Without ON CONFLICT first; a unique violation (an event already stored: a replayed spool,
            # or a retry whose lost attempt had committed) runs the form that skips stored rows.
            with contextlib.suppress(asyncpg.UniqueViolationError):
                return await conn.fetchrow(new, *args)
            return await conn.fetchrow(skip, *args)

        notify = not self._alone()
        new, skip = forms.get(skip=False, notify=notify), forms.get(skip=True, notify=notify)
        self._writing += 1
        try:
            # a repeated insert skips the stored ids (and so hands nothing over)
            written = await self._pool.run(insert, idempotent=True)
            if written is not None:
                self._hand_over(written["before"], written["ids"], written["positions"], items)
        finally:
            self._writing -= 1
            if self._announced > self._delivered:
                self._wake.set()  # a NOTIFY came during the write that its hand-over did not cover

    def _hand_over(
        self, before: Position | None, ids: list[str], positions: list[int], items: list[_Item]
    ) -> None:
        """Deliver the entries just committed when they directly follow the delivered position, from the
        events at hand (see the module docstring); else leave them to the tail, hurrying it when behind.
        ``before``: the head the append found (None: unknown); ``ids`` and ``positions``: the rows
        stored, in position order (ids already in the log were skipped)."""
        head = max(before or 0, positions[-1] if positions else 0)
        if self._task is None or before != self._delivered:
            if before is None or head > self._delivered:
                self._wake.set()
            return
        if positions:
            stored = dict(zip(ids, positions, strict=True))
            known = []
            for batch, _, events in items:
                for (event_id, blob), event in zip(batch, events, strict=True):
                    position = stored.pop(event_id, None)
                    if position is not None:  # else already in the log (or twice in this write)
                        known.append(known_entry(position, event, blob))
            known.sort(key=_position)
            for entry in known:
                self._delivered = entry.position
                self._listeners.deliver(entry)
        self._delivered = max(self._delivered, head)

    def _page(self, rows: _Rows, cursor: Position, *, found: bool) -> ReplayPage:
        """Rows of a read (each carries ``trimmed_through``; ``position`` is NULL when none matched)."""
        entries = [entry for entry in map(_entry, rows) if entry is not None]
        last = rows[-1]["position"]
        end = int(last) if last is not None else max(cursor, int(rows[0]["trimmed_through"]))
        return ReplayPage(entries, end, found)

    async def _fetch(self, sql: str, *args: object) -> _Rows:
        async def op(conn: Connection) -> _Rows:
            return await conn.fetch(sql, *args)

        return await self._pool.run(op, idempotent=True)

    # -- live delivery -----------------------------------------------------------------------------

    async def _tail(self) -> None:
        loop = asyncio.get_running_loop()
        delay = _FIRST_RETRY
        next_trim = loop.time() + self._trim_interval
        next_watch = loop.time()
        read_more_at = 0.0  # when a read that delivered rows lets the next one happen
        while not self._closing:  # also ends a tail whose cancellation a client library swallowed
            listen = self._listen
            if listen is not None and listen.is_closed():
                next_watch = loop.time()  # the listen connection just died: reconnect now
            if self._greet or loop.time() >= next_watch:
                await self._watch()
                next_watch = loop.time() + self._watchdog_interval
            linger = read_more_at - loop.time()
            if linger > 0:
                await asyncio.sleep(linger)
            self._wake.clear()  # before reading: a NOTIFY during the read wakes the next wait
            try:
                delivered = self._delivered
                full = await self._poll()
                if self._delivered != delivered and not full:  # a backlog is read without pause
                    read_more_at = loop.time() + _LINGER
                if loop.time() >= next_trim:
                    next_trim = loop.time() + self._trim_interval
                    await self.trim()
            except Exception as exc:
                self._report_down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY)
                continue
            delay = _FIRST_RETRY
            if self._down:
                self._down = False
                log.warning("%s answers again: live delivery resumed", self._where)
            if full:
                continue
            wait = max(0.0, min(self._poll_interval, next_watch - loop.time()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _poll(self) -> bool:
        """Hand the rows after the last delivered one to the listeners; True when there may be more."""
        rows = await self._fetch(self._sql.read, self._delivered, _TAIL_BATCH)
        trimmed = int(rows[0]["trimmed_through"])
        if trimmed > self._delivered:
            self._listeners.gap()  # retention deleted rows this process never delivered
            self._delivered = trimmed
        count = 0
        for row in rows:
            position = row["position"]
            if position is None:
                break
            count += 1
            if position <= self._delivered:
                continue  # handed over by this process's append while the read was answered
            self._delivered = int(position)
            entry = _entry(row)
            if entry is not None:
                self._listeners.deliver(entry)
        return count >= _TAIL_BATCH

    def _report_down(self, exc: Exception) -> None:
        if isinstance(exc, BackendUnavailable):
            if not self._down:
                self._down = True
                log.warning("%s unavailable, live delivery paused: %s", self._where, exc.message)
        else:  # a bug must not end live delivery for the life of the process
            log.exception("%s tail failed; retrying", self._where)

    # -- the LISTEN connection and its watchdog ----------------------------------------------------

    async def _watch(self) -> None:
        """Check the listen connection answers (its ping is this instance's ``here``); replace it when it
        does not. Never raises."""
        self._greet = False
        listen = self._listen
        if listen is not None and not listen.is_closed():
            try:
                async with asyncio.timeout(self._timeout):
                    await self._announce(listen, "here")
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.info("%s: the listen connection stopped answering; reconnecting", self._where)
        await self._drop_listen_connection()
        await self._connect_listen()

    async def _connect_listen(self) -> None:
        conn: asyncpg.Connection[asyncpg.Record] | None = None
        try:
            async with asyncio.timeout(self._timeout):
                conn = await asyncpg.connect(
                    self._url,
                    timeout=self._timeout,
                    server_settings={"application_name": "tidegate-events-listen"},
                )
                await conn.add_listener(self._channel, self._notified)
                await self._announce(conn, "hello")
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("%s: cannot listen yet (%s); polling", self._where, type(exc).__name__)
            if conn is not None:
                conn.terminate()
            return
        conn.add_termination_listener(self._listen_lost)
        self._listen = conn
        self._listening_since = time.monotonic()
        self._wake.set()  # NOTIFYs sent while nobody listened are gone: read now

    async def _drop_listen_connection(self) -> None:
        listen, self._listen = self._listen, None
        self._listening_since = None
        if listen is None or listen.is_closed():
            return
        try:
            async with asyncio.timeout(self._timeout):
                await listen.close()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            listen.terminate()

    async def _announce(self, conn: asyncpg.Connection[asyncpg.Record], kind: str) -> None:
        payload = f"{_PEER} {kind} {self._token} {self._watchdog_interval}"
        await conn.execute("SELECT pg_notify($1, $2)", self._channel, payload)

    def _alone(self) -> bool:
        """True when appends may leave out their NOTIFY: listening, past the grace, no peer known."""
        since = self._listening_since
        if since is None:
            return False
        now = time.monotonic()
        if now - since < min(_PEER_GRACE, self._watchdog_interval):
            return False
        peers = self._peers
        if peers:
            for token in [token for token, until in peers.items() if until <= now]:
                del peers[token]
        return not peers

    def _greeted(self, message: list[str]) -> None:
        """A presence message (``_PEER`` payload, split): remember the peer; answer a hello."""
        if len(message) != 4 or message[1] not in ("hello", "here") or message[2] == self._token:
            return
        try:
            interval = float(message[3])
        except ValueError:
            return
        self._peers[message[2]] = time.monotonic() + _PEER_LIFETIMES * max(interval, 0.0)
        if message[1] == "hello":
            self._greet = True
            self._wake.set()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        """Wake the tail for a head beyond the delivered position (any other payload: always); while
        this process appends, its hand-over decides (``_write``). Presence messages go to ``_greeted``."""
        text = str(payload)
        if text.startswith(_PEER):
            self._greeted(text.split(" "))
            return
        try:
            head = int(text)
        except ValueError:
            self._wake.set()
            return
        if head <= self._delivered:
            return
        self._announced = max(self._announced, head)
        if not self._writing:
            self._wake.set()

    def _listen_lost(self, *_: Any) -> None:
        self._wake.set()  # the tail loop sees the closed connection and reconnects


class _Statements:
    """The log's SQL; each append statement in its four forms (``_Forms``)."""

    def __init__(self, names: TableNames) -> None:
        self.joint: _Forms | None = None  # ``append`` with a companion INSERT (``accompany``)
        self.joint_one: _Forms | None = None  # the same for exactly one companion row
        events, meta = names.table("events"), names.table("events_meta")
        self.head = (
            f"SELECT greatest(trimmed_through, (SELECT coalesce(max(position), 0) FROM {events})) AS head"
            f" FROM {meta}"
        )
        # $1 lock key, $2 ids, $3 JSON, $4 now, $5 channel. The lock is taken before any position is
        # drawn (the rows come out of a join with it, sorted) and released at commit; positions follow
        # the array order; the NOTIFY goes out at commit, with the rows and the new head. The lock
        # function (schema step events 2) also returns the head the appends before this one left.
        self._append_head = f"""
WITH locked AS (SELECT {names.table("events_lock")}($1) AS before),
added AS (
    INSERT INTO {events} (event_id, created_at, event)
    SELECT u.event_id, $4, u.event
    FROM locked, unnest($2::text[], $3::bytea[]) WITH ORDINALITY AS u(event_id, event, n)
    ORDER BY u.n{{skip}}
    RETURNING position, event_id
)"""
        self._append_result = """
SELECT {notify},
    l.before, ARRAY(SELECT position FROM added ORDER BY position) AS positions,
    ARRAY(SELECT event_id FROM added ORDER BY position) AS ids
FROM locked l"""
        self.append = self._forms(lambda skip: "")
        rows_after = (
            f"LEFT JOIN LATERAL (SELECT position, event FROM {events} WHERE position > {{start}}"
            " ORDER BY position LIMIT $2) e ON true ORDER BY e.position"
        )
        self.read = f"SELECT m.trimmed_through, e.position, e.event FROM {meta} m " + rows_after.format(
            start="$1"
        )
        self.read_after_id = (
            f"WITH s AS (SELECT position FROM {events} WHERE event_id = $1)"
            f" SELECT (SELECT position FROM s) AS start, m.trimmed_through, e.position, e.event"
            f" FROM {meta} m " + rows_after.format(start="coalesce((SELECT position FROM s), 0)")
        )
        # $1 max events, $2 oldest instant kept. Deletes a prefix, so ``trimmed_through`` is exact.
        self.trim = f"""
WITH bound AS (
    SELECT greatest(
        coalesce((SELECT position FROM {events} ORDER BY position DESC OFFSET $1 LIMIT 1), 0),
        coalesce((SELECT position FROM {events} WHERE created_at < $2 ORDER BY position DESC LIMIT 1), 0)
    ) AS through
),
gone AS (DELETE FROM {events} WHERE position <= (SELECT through FROM bound) RETURNING 1),
marked AS (
    UPDATE {meta} SET trimmed_through = (SELECT through FROM bound)
    WHERE trimmed_through < (SELECT through FROM bound)
)
SELECT count(*) AS deleted FROM gone"""

    def accompany(self, insert: Callable[..., str]) -> None:
        # A data-modifying WITH runs to completion whether or not the outer query reads it.
        self.joint = self._forms(lambda skip: f",\njoint AS ({insert(6, skip_stored=skip)})")
        self.joint_one = self._forms(lambda skip: f",\njoint AS ({insert(6, single=True, skip_stored=skip)})")

    def _forms(self, companion: Callable[[bool], str]) -> _Forms:
        def form(skip: bool, notify: bool) -> str:
            clause = "\n    ON CONFLICT (event_id) DO NOTHING" if skip else ""
            head = self._append_head.replace("{skip}", clause)
            # Without the NOTIFY, $5 (the channel) is still read, so that every form takes one argument list.
            result = self._append_result.replace("{notify}", _NOTIFY if notify else "$5::text AS channel")
            return f"{head}{companion(skip)}{result}"

        both = (False, True)
        return _Forms({(skip, notify): form(skip, notify) for skip in both for notify in both})


_NOTIFY = "pg_notify($5, coalesce(greatest(l.before, (SELECT max(position) FROM added))::text, ''))"


@dataclass(frozen=True, slots=True)
class _Forms:
    """An append statement in each form: ``skip`` (rows already stored are skipped: ``ON CONFLICT DO
    NOTHING``) or new (without it; cheaper, and a unique violation means the skipping form must run),
    each with or without the NOTIFY."""

    texts: dict[tuple[bool, bool], str]

    def get(self, *, skip: bool, notify: bool) -> str:
        return self.texts[skip, notify]


def _position(entry: Entry) -> Position:
    return entry.position


def _entry(row: asyncpg.Record) -> Entry | None:
    position = row["position"]
    if position is None:
        return None
    try:
        return decode_entry(int(position), bytes(row["event"]))
    except ValueError as exc:
        log.error("event log (postgres): skipping row %s that is not an event (%s)", position, exc)
        return None
