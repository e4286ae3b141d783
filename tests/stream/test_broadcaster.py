"""Fan-out: isolation and filters, bounded queues with lagged frames, replay handed over to live."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Sequence

import pytest

from tests.stream._events import T0, event_id, make_event
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.caller import ANONYMOUS, AuthMethod, Caller, Grant, Role
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.json import JsonObject
from tidegate.stream.broadcaster import Broadcaster, Subscription
from tidegate.stream.filters import StreamFilter
from tidegate.stream.frames import REPLAY_WINDOW_EXCEEDED, encode_event, lagged
from tidegate.stream.log import Entry, GapListener, Listener, LocalEventLog, Position, ReplayPage

WINDOW = REPLAY_WINDOW_EXCEEDED


def scoped(*tenants: str, namespaces: tuple[str, ...] = ("*",)) -> Caller:
    return Caller("scoped", AuthMethod.API_KEY, Role.VIEWER, (Grant(tenants=tenants, namespaces=namespaces),))


def ev(
    n: int,
    *,
    tenant: str = "acme",
    namespace: str = "alerts",
    kind: EventType = EventType.GROUP_FLUSHED,
    fields: JsonObject | None = None,
) -> StreamEvent:
    return make_event(kind, n=n, tenant=tenant, namespace=namespace, fields=fields)


def frame(n: int, *, tenant: str = "acme", namespace: str = "alerts") -> bytes:
    return encode_event(ev(n, tenant=tenant, namespace=namespace))


def setup(
    max_events: int = 1000,
    *,
    on_lagged: Callable[[int], None] | None = None,
    replay_page_size: int = 256,
) -> tuple[LocalEventLog, Broadcaster]:
    log = LocalEventLog(max_events, 3600, ManualClock(T0).now)
    return log, Broadcaster(log, on_lagged=on_lagged, replay_page_size=replay_page_size)


async def drain(subscription: Subscription) -> list[bytes]:
    """Every frame ready now, without waiting for more."""
    frames: list[bytes] = []
    while True:
        batch = await subscription.receive(limit=1000, max_wait=0)
        if not batch:
            return frames
        frames.extend(batch)


async def test_live_delivery_in_append_order_and_only_after_subscribing() -> None:
    log, broadcaster = setup()
    await log.append([ev(1)])
    subscription = broadcaster.subscribe(ANONYMOUS)
    await log.append([ev(2), ev(3)])
    await log.append([ev(4)])
    assert await drain(subscription) == [frame(2), frame(3), frame(4)]
    empty_id = broadcaster.subscribe(ANONYMOUS, last_event_id="")  # empty Last-Event-ID = live only
    await log.append([ev(5)])
    assert await drain(empty_id) == [frame(5)]
    assert await drain(subscription) == [frame(5)]


async def test_a_waiting_consumer_is_woken_by_a_publish() -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    waiting = asyncio.create_task(subscription.receive())
    await asyncio.sleep(0)
    assert not waiting.done()
    await log.append([ev(1), ev(2)])
    assert await waiting == [frame(1), frame(2)]


async def test_receive_returns_an_empty_list_when_idle() -> None:
    _, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    assert await subscription.receive(max_wait=0) == []
    assert await subscription.receive(max_wait=0.001) == []


async def _woken(subscription: Subscription, log: LocalEventLog, n: int, max_wait: float) -> None:
    """One ``receive`` that starts waiting with ``max_wait`` and is woken by event ``n``."""
    waiting = asyncio.create_task(subscription.receive(max_wait=max_wait))
    await asyncio.sleep(0)
    await log.append([ev(n)])
    assert await waiting == [frame(n)]


async def test_one_keep_alive_timer_serves_many_woken_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    loop = asyncio.get_running_loop()
    scheduled: list[float] = []
    call_at = loop.call_at  # asyncio's call_later goes through call_at too

    def counting(when: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        scheduled.append(when)
        return call_at(when, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "call_at", counting)
    for n in range(1, 21):
        await _woken(subscription, log, n, max_wait=30)
    assert len(scheduled) == 1


async def test_a_short_wait_after_a_long_one_still_ends_on_time() -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    await _woken(subscription, log, 1, max_wait=60)  # leaves a timer set 60 s ahead
    async with asyncio.timeout(5):
        assert await subscription.receive(max_wait=0.01) == []


async def test_a_timer_set_by_an_earlier_wait_does_not_end_a_later_one_early() -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    loop = asyncio.get_running_loop()
    await _woken(subscription, log, 1, max_wait=0.05)  # its timer fires in 0.05 s
    await asyncio.sleep(0.03)
    started = loop.time()
    assert await subscription.receive(max_wait=0.05) == []
    assert loop.time() - started >= 0.045


async def test_close_cancels_the_keep_alive_timer() -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    await _woken(subscription, log, 1, max_wait=60)
    subscription.close()
    gone = weakref.ref(subscription)
    del subscription
    gc.collect()
    assert gone() is None


async def test_receive_limit_and_async_iteration() -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    await log.append([ev(n) for n in range(1, 6)])
    assert await subscription.receive(limit=2) == [frame(1), frame(2)]
    received = []
    async for item in subscription:
        received.append(item)
        if len(received) == 3:
            subscription.close()
    assert received == [frame(3), frame(4), frame(5)]


async def test_isolation_is_hierarchical_and_wildcard_sees_everything() -> None:
    log, broadcaster = setup()
    acme = broadcaster.subscribe(scoped("acme"))
    acme_eu_alerts = broadcaster.subscribe(scoped("acme.eu", namespaces=("alerts",)))
    admin = broadcaster.subscribe(ANONYMOUS)
    events = [
        ev(1, tenant="acme"),
        ev(2, tenant="acme.eu"),
        ev(3, tenant="acmecorp"),
        ev(4, tenant="acme.eu", namespace="billing"),
        ev(5, tenant="other"),
    ]
    await log.append(events)
    assert await drain(acme) == [encode_event(events[i]) for i in (0, 1, 3)]
    assert await drain(acme_eu_alerts) == [encode_event(events[1])]
    assert await drain(admin) == [encode_event(e) for e in events]


async def test_filters_apply_after_isolation() -> None:
    log, broadcaster = setup()
    only_flushes = broadcaster.subscribe(scoped("acme"), StreamFilter(event_type=EventType.GROUP_FLUSHED))
    by_namespace = broadcaster.subscribe(ANONYMOUS, StreamFilter(namespace="billing"))
    events = [
        ev(1, kind=EventType.GROUP_FLUSHED),
        ev(2, kind=EventType.CHAIN_COMPLETED, fields={"chain_id": "c"}),
        ev(3, kind=EventType.GROUP_FLUSHED, tenant="other"),
        ev(4, namespace="billing"),
    ]
    await log.append(events)
    assert await drain(only_flushes) == [encode_event(events[0]), encode_event(events[3])]
    assert await drain(by_namespace) == [encode_event(events[3])]


async def test_a_stalled_subscriber_gets_one_lagged_frame_exactly_at_the_gap() -> None:
    reported: list[int] = []
    log, broadcaster = setup(on_lagged=reported.append)
    # The stalled subscriber filters (lagged frames bypass filters) and is tenant-scoped.
    slow = broadcaster.subscribe(scoped("acme"), StreamFilter(namespace="alerts"), queue_size=3)
    fast = broadcaster.subscribe(ANONYMOUS, queue_size=1000)
    await log.append([ev(n) for n in range(1, 6)])  # 4 and 5 are dropped for `slow`
    # Events `slow` may not see, or did not ask for, are not counted while its queue is full.
    await log.append([ev(90, tenant="other"), ev(91, namespace="billing")])
    assert reported == [1, 1] and broadcaster.dropped_total == 2
    assert await slow.receive(limit=1) == [frame(1)]  # space returns
    await log.append([ev(6)])  # the gap closes: marker, then the event
    await log.append([ev(7)])  # full again: one more drop
    assert await slow.receive(limit=100) == [frame(2), frame(3), lagged(2), frame(6), lagged(1)]
    await log.append([ev(8)])
    assert await slow.receive(limit=100) == [frame(8)]
    everything = [frame(n) for n in range(1, 6)] + [frame(90, tenant="other"), frame(91, namespace="billing")]
    assert await drain(fast) == [*everything, frame(6), frame(7), frame(8)]
    assert reported == [1, 1, 1]


async def test_an_open_gap_is_reported_once_the_queue_is_drained() -> None:
    log, broadcaster = setup()
    slow = broadcaster.subscribe(ANONYMOUS, queue_size=2)
    await log.append([ev(n) for n in range(1, 10)])
    assert await slow.receive(limit=1) == [frame(1)]
    assert await slow.receive(limit=1) == [frame(2)]
    assert await slow.receive(limit=1) == [lagged(7)]
    assert await slow.receive(max_wait=0) == []


async def test_lagged_counts_only_what_passed_isolation_and_filters() -> None:
    log, broadcaster = setup()
    slow = broadcaster.subscribe(scoped("acme"), queue_size=1)
    await log.append([ev(1), ev(2, tenant="hidden"), ev(3, tenant="hidden"), ev(4)])
    assert await drain(slow) == [frame(1), lagged(1)]


async def test_a_thousand_stalled_subscribers_share_frame_objects() -> None:
    reported: list[int] = []
    log, broadcaster = setup(max_events=2000, on_lagged=reported.append)
    subscriptions = [broadcaster.subscribe(ANONYMOUS, queue_size=1024) for _ in range(1000)]
    await log.append([ev(n) for n in range(1, 1025)])
    assert reported == []
    await log.append([ev(5000)])  # every queue is full
    assert reported == [1000] and broadcaster.dropped_total == 1000
    first = await subscriptions[0].receive(limit=2000)
    assert first is not None and len(first) == 1025 and first[-1] == lagged(1)
    for subscription in subscriptions[1:]:
        frames = await subscription.receive(limit=2000)
        assert frames is not None and len(frames) == 1025
        assert all(mine is shared for mine, shared in zip(frames[:-1], first[:-1], strict=True))
    for subscription in subscriptions:
        subscription.close()
    assert broadcaster.subscriber_count == 0


async def test_close_ends_a_waiting_receive_and_iteration() -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    waiting = asyncio.create_task(subscription.receive(max_wait=60))
    await asyncio.sleep(0)
    subscription.close()
    assert await waiting is None
    assert subscription.closed and broadcaster.subscriber_count == 0
    await log.append([ev(1)])
    assert await subscription.receive() is None
    with pytest.raises(StopAsyncIteration):
        await subscription.__anext__()
    subscription.close()  # idempotent
    broadcaster.unsubscribe(subscription)


async def test_a_cancelled_receive_leaves_the_subscription_usable() -> None:
    log, broadcaster = setup()
    subscription = broadcaster.subscribe(ANONYMOUS)
    waiting = asyncio.create_task(subscription.receive())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await log.append([ev(1)])
    assert await subscription.receive() == [frame(1)]


async def test_async_with_releases_the_subscription() -> None:
    log, broadcaster = setup()
    async with broadcaster.subscribe(ANONYMOUS) as subscription:
        assert broadcaster.subscriber_count == 1
        await log.append([ev(1)])
        assert await subscription.receive() == [frame(1)]
    assert subscription.closed and broadcaster.subscriber_count == 0


async def test_no_leak_after_a_thousand_subscribe_close_cycles() -> None:
    log, broadcaster = setup()
    refs = []
    for n in range(1000):
        subscription = broadcaster.subscribe(scoped("acme"), StreamFilter(namespace="alerts"), queue_size=4)
        if n % 2:
            await log.append([ev(n)])
        waiting = asyncio.create_task(subscription.receive(max_wait=60)) if n % 3 == 0 else None
        await asyncio.sleep(0)
        subscription.close()
        if waiting is not None:
            await waiting
        refs.append(weakref.ref(subscription))
        del subscription, waiting
    gc.collect()
    assert broadcaster.subscriber_count == 0
    assert broadcaster._snapshot == ()
    assert all(ref() is None for ref in refs)


async def test_broadcaster_close_completes_every_stream() -> None:
    log, broadcaster = setup()
    subscriptions = [broadcaster.subscribe(ANONYMOUS) for _ in range(3)]
    waiting = [asyncio.create_task(subscription.receive()) for subscription in subscriptions]
    await asyncio.sleep(0)
    broadcaster.close()
    assert await asyncio.gather(*waiting) == [None, None, None]
    assert broadcaster.subscriber_count == 0
    await log.append([ev(1)])
    assert broadcaster.last_seen == 0  # no longer listening
    late = broadcaster.subscribe(ANONYMOUS)
    assert late.closed and await late.receive() is None and broadcaster.subscriber_count == 0


# --- replay (§1.10) ---------------------------------------------------------------------------


async def test_replay_after_a_retained_id_then_live() -> None:
    log, broadcaster = setup()
    await log.append([ev(n) for n in range(1, 6)])
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(2))
    assert subscription.replaying
    await log.append([ev(6)])  # appended after subscribing, before the first read: replayed once
    assert await drain(subscription) == [frame(n) for n in range(3, 7)]
    assert not subscription.replaying
    await log.append([ev(7)])
    assert await drain(subscription) == [frame(7)]


async def test_replay_from_the_newest_id_goes_live_at_once() -> None:
    log, broadcaster = setup()
    await log.append([ev(1)])
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    assert await subscription.receive(max_wait=0) == []
    assert not subscription.replaying
    await log.append([ev(2)])
    assert await subscription.receive() == [frame(2)]


@pytest.mark.parametrize("last_event_id", [event_id(1), event_id(424242), "not-a-uuid"])
async def test_an_unknown_or_evicted_id_sends_window_exceeded_then_the_whole_window(
    last_event_id: str,
) -> None:
    log, broadcaster = setup(max_events=3)
    await log.append([ev(n) for n in range(1, 6)])  # keeps 3, 4, 5
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=last_event_id)
    assert await drain(subscription) == [WINDOW, frame(3), frame(4), frame(5)]
    await log.append([ev(6)])
    assert await drain(subscription) == [frame(6)]


async def test_window_exceeded_on_an_empty_window() -> None:
    log, broadcaster = setup(max_events=0)
    await log.append([ev(1)])
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    assert await drain(subscription) == [WINDOW]
    await log.append([ev(2)])
    assert await drain(subscription) == [frame(2)]


async def test_replay_applies_isolation_and_filters() -> None:
    log, broadcaster = setup(replay_page_size=2)
    events = [ev(1), ev(2, tenant="other"), ev(3, namespace="billing"), ev(4, tenant="other"), ev(5), ev(6)]
    await log.append(events)
    subscription = broadcaster.subscribe(
        scoped("acme"), StreamFilter(namespace="alerts"), last_event_id=event_id(1)
    )
    assert await drain(subscription) == [frame(5), frame(6)]


async def test_replay_never_lags_even_with_a_tiny_queue() -> None:
    log, broadcaster = setup(replay_page_size=4)
    await log.append([ev(n) for n in range(1, 31)])
    subscription = broadcaster.subscribe(ANONYMOUS, queue_size=2, last_event_id=event_id(1))
    received: list[bytes] = []
    for _ in range(29):
        batch = await subscription.receive(limit=1)
        assert batch is not None
        received.extend(batch)
    assert received == [frame(n) for n in range(2, 31)]


async def test_no_gap_and_no_duplicate_when_events_arrive_during_replay() -> None:
    log, broadcaster = setup(replay_page_size=3)
    await log.append([ev(n) for n in range(1, 11)])
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(4))
    received: list[bytes] = []
    following = 11
    while following <= 40:
        batch = await subscription.receive(limit=1, max_wait=0)
        assert batch is not None
        received.extend(batch)
        # Appends between reads: while replaying, at the switch, and once live.
        await log.append([ev(following), ev(following + 1)][: 1 + following % 2])
        following += 1 + following % 2
    received.extend(await drain(subscription))
    assert not subscription.replaying
    assert received == [frame(n) for n in range(5, following)]


class DeferredLog:
    """A log whose live feed trails its storage, like a shared log tailed by another connection."""

    def __init__(self, inner: LocalEventLog) -> None:
        self.inner = inner
        self.listeners: list[Listener] = []
        self.pending: list[Entry] = []
        self.append_during_read: list[StreamEvent] = []
        self.failures = 0
        inner.add_listener(self.pending.append)

    async def append(self, events: Sequence[StreamEvent]) -> None:
        await self.inner.append(events)

    def deliver(self) -> None:
        pending, self.pending[:] = list(self.pending), []
        for entry in pending:
            for listener in self.listeners:
                listener(entry)

    async def _around(self, page: ReplayPage) -> ReplayPage:
        await asyncio.sleep(0)  # a real network read yields to the loop
        if self.append_during_read and not page.entries:
            # The race that matters: the read found nothing new, yet the feed moved on meanwhile.
            await self.inner.append([self.append_during_read.pop(0)])
            self.deliver()
        return page

    async def read_after(self, last_event_id: str | None, limit: int) -> ReplayPage:
        self._maybe_fail()
        return await self._around(await self.inner.read_after(last_event_id, limit))

    async def read_from(self, cursor: Position, limit: int) -> ReplayPage:
        self._maybe_fail()
        return await self._around(await self.inner.read_from(cursor, limit))

    def _maybe_fail(self) -> None:
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("event log unavailable")

    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self.listeners.remove(listener)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def deferred(max_events: int = 1000, page: int = 256) -> tuple[DeferredLog, Broadcaster]:
    log = DeferredLog(LocalEventLog(max_events, 3600, ManualClock(T0).now))
    return log, Broadcaster(log, replay_page_size=page)


async def test_live_entries_already_replayed_are_skipped() -> None:
    log, broadcaster = deferred()
    await log.append([ev(1)])
    log.deliver()
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    await log.append([ev(2), ev(3)])  # stored, not yet seen by the live feed
    assert await drain(subscription) == [frame(2), frame(3)]
    assert not subscription.replaying
    log.deliver()  # the feed catches up with entries the replay already sent
    await log.append([ev(4)])
    log.deliver()
    assert await drain(subscription) == [frame(4)]


async def test_entries_published_while_a_read_is_in_flight_are_not_lost() -> None:
    log, broadcaster = deferred(page=2)
    await log.append([ev(n) for n in range(1, 4)])
    log.deliver()
    log.append_during_read = [ev(n) for n in range(10, 13)]
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    received = await drain(subscription)
    assert log.append_during_read == [] and not subscription.replaying
    await log.append([ev(20)])
    log.deliver()
    received += await drain(subscription)
    assert received == [frame(n) for n in (2, 3, 10, 11, 12, 20)]


async def test_a_log_that_stays_behind_its_feed_is_retried_with_backoff() -> None:
    log, broadcaster = deferred()
    await log.append([ev(1)])
    log.deliver()
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    broadcaster.publish(Entry(99, ev(99)))  # the feed claims an entry the log cannot return
    assert await subscription.receive(max_wait=0) == []
    assert subscription.replaying


async def test_a_replay_cursor_evicted_mid_replay_is_reported_again() -> None:
    log, broadcaster = setup(max_events=4, replay_page_size=2)
    await log.append([ev(n) for n in range(1, 5)])
    subscription = broadcaster.subscribe(ANONYMOUS, queue_size=100, last_event_id=event_id(1))
    assert await subscription.receive(limit=10) == [frame(2), frame(3)]
    await log.append([ev(n) for n in range(5, 9)])  # evicts 4 before the replay got to it
    assert await drain(subscription) == [WINDOW, frame(5), frame(6), frame(7), frame(8)]


async def test_replay_survives_an_event_log_outage() -> None:
    log, broadcaster = deferred()
    await log.append([ev(1), ev(2)])
    log.deliver()
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    log.failures = 2
    assert await subscription.receive(max_wait=0) == []  # keep-alives go on
    assert await subscription.receive(max_wait=0) == []
    assert await subscription.receive(max_wait=0) == [frame(2)]


async def test_an_outage_retry_can_be_interrupted_by_close() -> None:
    log, broadcaster = deferred()
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    log.failures = 1
    waiting = asyncio.create_task(subscription.receive())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    subscription.close()
    assert await waiting is None


async def test_closing_during_a_replay_read() -> None:
    log, broadcaster = deferred()
    await log.append([ev(1), ev(2)])
    subscription = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    waiting = asyncio.create_task(subscription.receive())
    await asyncio.sleep(0)  # inside the read
    subscription.close()
    assert await waiting is None


async def test_isolation_stays_right_past_the_visibility_cache_size() -> None:
    log, broadcaster = setup(max_events=10)
    subscription = broadcaster.subscribe(scoped("acme"), queue_size=20000)
    for n in range(5000):
        await log.append([ev(n, tenant=f"acme.t{n}"), ev(n + 100000, tenant=f"other.t{n}")])
    frames = await drain(subscription)
    assert frames == [frame(n, tenant=f"acme.t{n}") for n in range(5000)]


class GapLog(LocalEventLog):
    """A local log that can announce a gap, as a shared log does after an outage (§1.11)."""

    def __init__(self) -> None:
        super().__init__(1000, 3600, ManualClock(T0).now)
        self.gap_listeners: list[GapListener] = []

    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        super().add_listener(listener)
        if on_gap is not None:
            self.gap_listeners.append(on_gap)

    def announce_gap(self) -> None:
        for on_gap in self.gap_listeners:
            on_gap()


async def test_a_gap_in_the_log_reaches_live_subscribers_after_their_pending_lag() -> None:
    log = GapLog()
    broadcaster = Broadcaster(log)
    live = broadcaster.subscribe(ANONYMOUS)
    small = broadcaster.subscribe(ANONYMOUS, queue_size=1)
    await log.append([ev(1), ev(2)])  # ``small`` keeps 1 and drops 2
    assert await live.receive(limit=10) == [frame(1), frame(2)]
    receiving = asyncio.create_task(live.receive(limit=10))
    await asyncio.sleep(0)
    log.announce_gap()
    log.announce_gap()  # a second gap before the client read anything: still one frame
    assert await receiving == [WINDOW]  # a waiting receiver is woken by the gap alone
    assert await drain(small) == [frame(1), lagged(1), WINDOW]  # the older gap is reported first
    await log.append([ev(3)])
    assert await drain(live) == [frame(3)]
    assert await drain(small) == [frame(3)]


async def test_a_replaying_subscriber_is_not_told_about_a_live_gap() -> None:
    log = GapLog()
    broadcaster = Broadcaster(log)
    await log.append([ev(1), ev(2)])
    replaying = broadcaster.subscribe(ANONYMOUS, last_event_id=event_id(1))
    assert replaying.replaying
    log.announce_gap()  # its own reads of the log find any loss; a second frame would be a lie
    assert await drain(replaying) == [frame(2)]
