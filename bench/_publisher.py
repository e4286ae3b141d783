"""The bench publisher: stream events at a steady rate, each carrying its publish time and a tag.

Event ``n`` (from 0) is due ``n / rate`` seconds after the start. Every wake-up publishes each event that
is due, so a busy server publishes late, in a burst, instead of dropping events; how late is recorded,
because a publisher far behind its schedule means the server cannot keep up, whatever the latency of the
events it did deliver. The first ``warmup`` events carry tag 0, the rest the step's tag.

Each event is the ``action_dispatched`` event of a successful ``log`` dispatch; its outcome body is
``{"k": <tag>, "t": <CLOCK_MONOTONIC ns at publish>}``. CLOCK_MONOTONIC is one clock for every process of
the machine, so a client process subtracts ``t`` from its own reading to get publish-to-receive latency."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from _stats import percentile
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.ids import new_id
from tidegate.model.json import JsonObject
from tidegate.stream.emit import new_event

__all__ = ["Plan", "PublishReport", "bench_event", "publish_on_schedule"]

WARMUP_TAG = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """``warmup`` events tagged 0, then ``measured`` events tagged ``tag``, at ``rate`` per second."""

    rate: float
    warmup: int
    measured: int
    tag: int

    @property
    def total(self) -> int:
        return self.warmup + self.measured

    def tag_of(self, n: int) -> int:
        return WARMUP_TAG if n < self.warmup else self.tag

    def due(self, elapsed: float) -> int:
        """How many events are due ``elapsed`` seconds after the start (event 0 is due at once)."""
        if elapsed < 0:
            return 0
        return min(self.total, math.floor(elapsed * self.rate) + 1)


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What was published; ``seconds`` spans the measured events (their schedule, or longer if late)."""

    warmup: int
    measured: int
    seconds: float
    late_p99_ms: float
    late_max_ms: float


def bench_event(tag: int, now: datetime) -> StreamEvent:
    """One benchmark event, stamped with CLOCK_MONOTONIC nanoseconds as the last step before publishing."""
    body: JsonObject = {"k": tag, "t": time.monotonic_ns()}
    return new_event(
        EventType.ACTION_DISPATCHED,
        namespace="bench",
        tenant="t1",
        fields={
            "outcome": {"Executed": {"status": "success", "body": body, "headers": {}}},
            "provider": "log",
        },
        now=now,
        action_type="ping",
        action_id=new_id(),
    )


async def publish_on_schedule(
    plan: Plan, publish: Callable[[int], Awaitable[None]], *, min_sleep: float = 0.0
) -> PublishReport:
    """Call ``publish(tag)`` for every event of ``plan`` when it is due; returns how it went."""
    loop = asyncio.get_running_loop()
    rate = plan.rate
    start = loop.time()
    late: list[float] = []
    measured_start = start + plan.warmup / rate
    published = 0
    now = start
    while published < plan.total:
        due = plan.due(now - start)
        while published < due:
            tag = plan.tag_of(published)
            await publish(tag)
            if tag != WARMUP_TAG:
                late.append(loop.time() - (start + published / rate))
            published += 1
        if published < plan.total:
            await asyncio.sleep(max(min_sleep, start + published / rate - loop.time()))
        now = loop.time()
    scheduled = plan.measured / rate
    seconds = max(scheduled, loop.time() - measured_start) if plan.measured else 0.0
    late.sort()
    return PublishReport(
        warmup=plan.warmup,
        measured=plan.measured,
        seconds=seconds,
        late_p99_ms=percentile(late, 99) * 1000 if late else 0.0,
        late_max_ms=late[-1] * 1000 if late else 0.0,
    )
