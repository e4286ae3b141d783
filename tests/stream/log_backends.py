"""The event-log backends under contract test, and how to open several logs on one of them.

A ``LogSite`` is one place a log lives: nothing for ``local``, a fresh key prefix on the test Redis, a
fresh schema on the test PostgreSQL. Every log opened on a site shares its storage, exactly as the
processes of one deployment do; closing the site closes them and removes what they wrote. The shared
logs get short poll and block intervals so that tests stay fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from tests.postgres.pg_support import drop_schema, postgres_url, unique_schema
from tests.store.redis_support import delete_prefix, redis_url, unique_prefix
from tests.stream._events import T0
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.event import StreamEvent
from tidegate.postgres.names import TableNames
from tidegate.stream.log import Entry, EventLog, LocalEventLog
from tidegate.stream.postgres_log import PostgresEventLog
from tidegate.stream.redis_log import RedisEventLog

LOG_BACKENDS = ["local", "redis", "postgres"]
SHARED_BACKENDS = ["redis", "postgres"]

SharedLog = RedisEventLog | PostgresEventLog


class LogSite:
    def __init__(self, backend: str, clock: ManualClock, url: str | None = None) -> None:
        self.backend = backend
        self.clock = clock
        self.opened: list[EventLog] = []
        self.location = ""
        self.url = ""
        if backend == "redis":
            self.url, self.location = url or redis_url(), unique_prefix()
        elif backend == "postgres":
            self.url, self.location = url or postgres_url(), unique_schema()

    async def open(
        self,
        max_events: int = 100,
        max_age_seconds: int = 3600,
        clock: ManualClock | None = None,
        **options: Any,
    ) -> EventLog:
        """A new log on this site (for a shared backend: another "process", with its own ``clock`` if
        given, on the same storage)."""
        now = (clock or self.clock).now
        log: EventLog
        if self.backend == "local":
            log = LocalEventLog(max_events, max_age_seconds, now)
        elif self.backend == "redis":
            options.setdefault("block_seconds", 0.2)
            options.setdefault("operation_timeout", 2.0)
            redis = RedisEventLog(
                options.pop("url", self.url),
                now,
                key_prefix=self.location,
                max_events=max_events,
                max_age_seconds=max_age_seconds,
                **options,
            )
            await redis.open()
            log = redis
        else:
            options.setdefault("poll_interval", 0.05)
            options.setdefault("operation_timeout", 2.0)
            postgres = PostgresEventLog(
                options.pop("url", self.url),
                now,
                names=TableNames(schema=self.location),
                max_events=max_events,
                max_age_seconds=max_age_seconds,
                **options,
            )
            await postgres.open()
            log = postgres
        self.opened.append(log)
        return log

    async def close(self) -> None:
        for log in self.opened:
            await log.close()
        if self.backend == "redis":
            await delete_prefix(self.url, self.location)
        elif self.backend == "postgres":
            await drop_schema(self.url, self.location)


class Seen:
    """A listener that records entries (as event ids) and gaps (as ``"gap"``), in the order given."""

    def __init__(self, log: EventLog) -> None:
        self.items: list[str] = []
        self.positions: list[int] = []
        log.add_listener(self.entry, self.gap)

    def entry(self, entry: Entry) -> None:
        self.items.append(entry.event.id)
        self.positions.append(entry.position)

    def gap(self) -> None:
        self.items.append("gap")

    @property
    def ids(self) -> list[str]:
        return [item for item in self.items if item != "gap"]


async def trim(log: EventLog) -> int:
    """Apply retention now, whatever the backend (the local log's ``trim`` is synchronous)."""
    if isinstance(log, LocalEventLog):
        return log.trim()
    assert isinstance(log, RedisEventLog | PostgresEventLog)
    return await log.trim()


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {within} s")
        await asyncio.sleep(0.01)


class FlakyLog(LocalEventLog):
    """A local log that refuses appends while ``down``, or after ``accept`` more events."""

    def __init__(self) -> None:
        super().__init__(1000, 3600, ManualClock(T0).now)
        self.down = False
        self.accept: int | None = None

    async def append(self, events: Sequence[StreamEvent]) -> None:
        if self.down or (self.accept is not None and self.accept < len(events)):
            raise BackendUnavailable("event log unavailable")
        if self.accept is not None:
            self.accept -= len(events)
        await super().append(events)
