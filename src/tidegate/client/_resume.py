"""Reconnection policy for the resumable streams: where to resume, when to give up, how long to wait.

Pure decisions (no I/O, no clock, randomness injected); the async and sync clients run the loop."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from tidegate.client._errors import APIError, TidegateClientError
from tidegate.client._sse import Frame
from tidegate.client._stream_items import (
    ExecutionDone,
    ExecutionItem,
    StreamItem,
    parse_execution_done,
    parse_execution_entry,
    parse_stream_event,
)

__all__ = ["Backoff", "ConnectionChange", "ExecutionFollower", "Follower", "StreamFollower"]

ItemT = TypeVar("ItemT")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between d/2 and d, d = initial * 2^(n-1)
    capped at ``maximum``, so clients dropped together by one server restart do not return together."""

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rand: float) -> float:
        ceiling = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        return ceiling / 2 + ceiling / 2 * rand


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """Told to ``on_connection`` on every connect and every loss: ``attempt`` counts failures in a row,
    ``retry_in`` is the wait before the next try, ``last_event_id`` where the stream will resume."""

    state: Literal["connected", "disconnected"]
    attempt: int
    last_event_id: str | None
    error: TidegateClientError | None = None
    retry_in: float | None = None


ConnectionHook = Callable[[ConnectionChange], object]


class Follower(Generic[ItemT]):
    """State of one resumable stream across connections.

    ``max_retries`` bounds failures in a row (None: retry for ever); a connection that delivered
    anything resets the count. Errors the server marks not retryable (401, 403, 400, 404,
    ``streaming_disabled``) end the stream at once."""

    def __init__(
        self,
        last_event_id: str | None,
        backoff: Backoff,
        max_retries: int | None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.last_event_id = last_event_id
        self.finished = False
        self.failures = 0
        self._backoff = backoff
        self._max_retries = max_retries
        self._rand = rand

    def headers(self) -> dict[str, str]:
        return {} if self.last_event_id is None else {"Last-Event-ID": self.last_event_id}

    def activity(self) -> None:
        """Bytes arrived on an accepted connection: the next failure starts the backoff afresh."""
        self.failures = 0

    def failed(self, error: TidegateClientError) -> float:
        """The wait before reconnecting; re-raises ``error`` when it is final or retries are spent."""
        if not error.retryable:
            raise error
        self.failures += 1
        if self._max_retries is not None and self.failures > self._max_retries:
            raise error
        delay = self._backoff.delay(self.failures, self._rand())
        if isinstance(error, APIError) and error.retry_after is not None:
            delay = max(delay, float(error.retry_after))
        return delay

    def handle(self, frame: Frame) -> ItemT | None:
        """The item a frame carries (None for none), updating the resume position."""
        raise NotImplementedError


class StreamFollower(Follower[StreamItem]):
    """``GET /v1/stream``: resume after the last event id received (``lagged`` frames have none)."""

    def handle(self, frame: Frame) -> StreamItem | None:
        item = parse_stream_event(frame)
        if frame.id:
            self.last_event_id = frame.id
        return item


class ExecutionFollower(Follower[ExecutionItem]):
    """A per-execution stream: resume after the last ``seq``; a ``done`` for ``terminal`` or ``timeout``
    ends it, while ``unavailable`` (the server lost its history store) is retried like a drop."""

    def handle(self, frame: Frame) -> ExecutionItem | None:
        if frame.event == "done":
            done: ExecutionDone = parse_execution_done(frame)
            if done.reason == "unavailable":
                return None
            self.finished = True
            return done
        entry = parse_execution_entry(frame)
        self.last_event_id = str(entry.seq)
        return entry
