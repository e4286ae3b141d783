"""Local fan-out of event-log entries to ``/v1/stream`` subscribers (stream.md §1.7-§1.10).

The broadcaster is the log's one listener in this process. Publishing is synchronous and never waits for
a subscriber: for each one it checks isolation, then the filters, then appends the entry's shared,
pre-encoded frame to that subscriber's bounded queue. A full queue drops the event for that subscriber
only and counts it; the count comes out as one ``lagged`` frame exactly at the gap (§1.9).

A subscription with ``Last-Event-ID`` is registered for live entries first, then reads the retained
window at its consumer's pace and goes live only once it has caught up with what the broadcaster has
seen; live entries at or below the last replayed position are skipped, so the switch has no gap and no
duplicate (§1.10)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Self

from tidegate.errors import BackendUnavailable
from tidegate.model.caller import Caller
from tidegate.model.event import StreamEvent
from tidegate.stream.filters import StreamFilter, visible
from tidegate.stream.frames import REPLAY_WINDOW_EXCEEDED, lagged
from tidegate.stream.grants import caller_covers_everything
from tidegate.stream.log import Entry, EventLog, Position

__all__ = ["Broadcaster", "Subscription"]

logger = logging.getLogger(__name__)

#: ``Subscription.floor`` while replaying: the live path ignores every entry until the switch.
_REPLAYING: Position = 1 << 62
#: How long a subscription waits before retrying a replay read that found the log unavailable.
_RETRY_SECONDS = 1.0
#: Distinct (tenant, namespace) pairs whose visibility one subscription remembers.
_VISIBILITY_CACHE = 4096

Check = Callable[[StreamEvent], bool]


def _wake(waiter: asyncio.Future[bool], woken: bool) -> None:
    if not waiter.done():
        waiter.set_result(woken)


def _build_check(caller: Caller, stream_filter: StreamFilter) -> Check | None:
    """Isolation then filters as one predicate; ``None`` when every event passes (admin, no filter)."""
    wants = None if stream_filter.is_empty else stream_filter.matches
    if caller_covers_everything(caller):
        return wants
    seen: dict[tuple[str, str], bool] = {}

    def allowed(event: StreamEvent) -> bool:
        key = (event.tenant, event.namespace)
        answer = seen.get(key)
        if answer is None:
            if len(seen) >= _VISIBILITY_CACHE:
                seen.clear()
            answer = seen[key] = visible(caller, event)
        return answer and (wants is None or wants(event))

    return allowed


class Subscription:
    """One subscriber: an async iterator of SSE frames (bytes), closed with ``close()`` or ``async with``.

    ``receive`` is the efficient form for a writer: it returns every ready frame at once (up to a limit)
    and an empty list when ``max_wait`` passes idle, which is when a keep-alive is due (§0.4)."""

    __slots__ = (
        "__weakref__",
        "_behind",
        "_broadcaster",
        "_capacity",
        "_closed",
        "_cursor",
        "_last_event_id",
        "_queue",
        "_skipped",
        "_timer",
        "_waiter",
        "_wake_at",
        "check",
        "floor",
    )

    def __init__(
        self, broadcaster: Broadcaster, check: Check | None, capacity: int, last_event_id: str | None
    ) -> None:
        self._broadcaster = broadcaster
        self.check = check
        self._capacity = capacity
        self._queue: deque[bytes] = deque()
        self._skipped = 0
        self._waiter: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._wake_at = math.inf
        self._closed = False
        self._last_event_id = last_event_id
        self._cursor: Position | None = None
        self._behind = False
        #: Live entries at or below this position are not queued (all of them while replaying).
        self.floor: Position = 0 if last_event_id is None else _REPLAYING

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def replaying(self) -> bool:
        return self.floor == _REPLAYING

    @property
    def pending(self) -> int:
        """Frames queued and not yet received: at most the capacity plus one (a ``lagged`` frame)."""
        return len(self._queue)

    def offer(self, frame: bytes) -> bool:
        """Queue a live frame without waiting; False (and one more skipped) when the queue is full."""
        queue = self._queue
        if len(queue) >= self._capacity:
            self._skipped += 1
            return False
        if self._skipped:
            queue.append(lagged(self._skipped))
            self._skipped = 0
        queue.append(frame)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(True)
        return True

    def mark_gap(self) -> None:
        """The log lost entries this live subscriber never got (§1.11): say so before the next frame.

        Not bounded by the queue, like the ``lagged`` frame; gaps in a row make one frame."""
        queue = self._queue
        if self._skipped:
            queue.append(lagged(self._skipped))
            self._skipped = 0
        if not queue or queue[-1] is not REPLAY_WINDOW_EXCEEDED:
            queue.append(REPLAY_WINDOW_EXCEEDED)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            _wake(waiter, True)

    async def receive(self, limit: int = 64, max_wait: float | None = None) -> list[bytes] | None:
        """Up to ``limit`` frames in stream order, waiting for the first one.

        Returns ``[]`` when ``max_wait`` seconds pass with nothing to send (time for a keep-alive), and
        ``None`` once the subscription is closed. Cancelling a waiting call leaves it usable."""
        deadline: float | None = None
        while not self._closed:
            if self._queue or self._skipped:
                return self._take(limit)
            wait = None
            if self.floor == _REPLAYING:
                if await self._replay_step():
                    continue
                wait = _RETRY_SECONDS
            loop = asyncio.get_running_loop()
            if max_wait is not None:
                if deadline is None:
                    deadline = loop.time() + max_wait
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                wait = remaining if wait is None else min(wait, remaining)
            await self._wait(loop, wait)
        return None

    def close(self) -> None:
        """Stop receiving and release the queue; idempotent. A waiting ``receive`` returns ``None``."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._skipped = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._broadcaster.unsubscribe(self)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            _wake(waiter, True)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        frames = await self.receive(limit=1)
        if not frames:
            raise StopAsyncIteration
        return frames[0]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _take(self, limit: int) -> list[bytes]:
        queue = self._queue
        limit = max(limit, 1)
        count = min(limit, len(queue))
        frames = [queue.popleft()] if count == 1 else [queue.popleft() for _ in range(count)]
        if not queue and self._skipped and count < limit:
            # The gap is still open and nothing follows it yet: report it now rather than waiting for
            # the next event, so a client that drained its queue learns about the loss at once.
            frames.append(lagged(self._skipped))
            self._skipped = 0
        return frames

    async def _wait(self, loop: asyncio.AbstractEventLoop, seconds: float | None) -> None:
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        self._wake_at = math.inf if seconds is None else loop.time() + seconds
        if seconds is not None:
            self._arm(loop)
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure the timer fires by ``_wake_at``.

        One timer serves many waits: a writer woken by every event would otherwise create and cancel a
        keep-alive timer per event (a noticeable share of a fan-out's CPU). The timer stays set when a
        wait ends early; it is replaced only when it would fire too late, and when it fires before the
        current deadline it sets itself again (``_on_timer``)."""
        timer = self._timer
        if timer is not None:
            if timer.when() <= self._wake_at:
                return
            timer.cancel()
        self._timer = loop.call_at(self._wake_at, self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or self._wake_at == math.inf:
            return  # nobody waits with a deadline: the next timed wait sets a new timer
        if loop.time() >= self._wake_at:
            self._waiter = None
            _wake(waiter, False)
        else:
            self._timer = loop.call_at(self._wake_at, self._on_timer, loop)

    async def _replay_step(self) -> bool:
        """Read the next replay page into the queue, or go live when caught up.

        Returns False when the log could not be read (or has not caught up with the live feed yet):
        the caller waits and retries, keeping the connection open (§1.11)."""
        broadcaster = self._broadcaster
        page_size = broadcaster.replay_page_size
        try:
            if self._cursor is None:
                page = await broadcaster.log.read_after(self._last_event_id, page_size)
            else:
                page = await broadcaster.log.read_from(self._cursor, page_size)
        except BackendUnavailable:
            logger.debug("event log unavailable during replay; retrying")
            return False
        if self._closed:
            return True
        queue = self._queue
        if not page.found:
            queue.append(REPLAY_WINDOW_EXCEEDED)
        check = self.check
        for entry in page.entries:
            if check is None or check(entry.event):
                queue.append(entry.frame)
        self._cursor = page.cursor
        if page.entries or not page.found:
            self._behind = False
            return True
        if page.cursor >= broadcaster.last_seen:
            # Everything the live feed delivered so far has been read from the log: switch now, in the
            # same step as the read, and let the live path skip what the replay already covered.
            self.floor = page.cursor
            return True
        # The live feed saw entries appended while this read was in flight: read again at once, but
        # back off if the log keeps answering with less than the feed has seen.
        self._behind = not self._behind
        return self._behind


class Broadcaster:
    """Fans log entries out to subscriptions.

    ``on_lagged(n)`` is called once per published event that ``n`` (>= 1) subscribers had to drop, for the
    ``tidegate_stream_lagged_events_total`` counter; ``dropped_total`` keeps the same sum."""

    def __init__(
        self,
        log: EventLog,
        *,
        on_lagged: Callable[[int], None] | None = None,
        replay_page_size: int = 256,
    ) -> None:
        self.log = log
        self.replay_page_size = max(replay_page_size, 1)
        self._on_lagged = on_lagged
        self._subscriptions: dict[Subscription, None] = {}
        self._snapshot: tuple[Subscription, ...] = ()
        self._last_seen: Position = 0
        self._closed = False
        self.dropped_total = 0
        log.add_listener(self.publish, self.gap)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The open subscriptions, oldest first (for diagnostics and tests)."""
        return self._snapshot

    @property
    def last_seen(self) -> Position:
        """Position of the newest entry published to subscribers."""
        return self._last_seen

    def subscribe(
        self,
        caller: Caller,
        stream_filter: StreamFilter | None = None,
        queue_size: int = 1024,
        last_event_id: str | None = None,
    ) -> Subscription:
        """Register for live entries now; with a non-empty ``last_event_id``, replay first (§1.10)."""
        check = _build_check(caller, stream_filter or StreamFilter())
        subscription = Subscription(self, check, max(queue_size, 1), last_event_id or None)
        if self._closed:
            subscription.close()
            return subscription
        self._subscriptions[subscription] = None
        self._snapshot = tuple(self._subscriptions)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget the subscription (``Subscription.close`` calls this); safe to call twice."""
        if subscription in self._subscriptions:
            del self._subscriptions[subscription]
            self._snapshot = tuple(self._subscriptions)
        if not subscription.closed:
            subscription.close()

    def publish(self, entry: Entry) -> None:
        """The log listener: offer the entry to every subscriber that may see it and asked for it."""
        position = entry.position
        self._last_seen = position
        event = entry.event
        frame: bytes | None = None
        dropped = 0
        for subscription in self._snapshot:
            if position <= subscription.floor:
                continue
            check = subscription.check
            if check is not None and not check(event):
                continue
            if frame is None:
                frame = entry.frame
            if not subscription.offer(frame):
                dropped += 1
        if dropped:
            self.dropped_total += dropped
            if self._on_lagged is not None:
                self._on_lagged(dropped)

    def gap(self) -> None:
        """The log's gap listener: live subscribers get ``replay_window_exceeded`` (§1.11).

        Replaying subscribers are left alone: their next read from the log finds the loss itself."""
        for subscription in self._snapshot:
            if not subscription.replaying:
                subscription.mark_gap()

    def close(self) -> None:
        """End every subscription (their streams complete normally) and stop listening to the log.

        Later subscriptions start closed: a shutting-down instance accepts no new subscriber."""
        self._closed = True
        self.log.remove_listener(self.publish)
        subscriptions = self._snapshot
        self._subscriptions.clear()
        self._snapshot = ()
        for subscription in subscriptions:
            subscription.close()
