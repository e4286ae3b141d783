"""Rate-limit arithmetic (security.md §9), pure: no store, no clock, no HTTP.

Two shapes of limit share one ``Limit``:

* the **window counter** of the caller and tenant limits: the previous fixed window, weighted by the part
  of it still inside the sliding window, plus the current one (``decide``). It needs only two integer
  counters per key, so one atomic ``incr`` per request keeps it cluster-wide;
* the **sliding log** of the fixed limits (login failures, embedding similarity): the exact times of the
  last requests (``recent``, ``log_retry_after``), for limits small enough to store every time.

Times are Unix seconds (floats); windows are aligned to Unix time, like the throttle's (features.md §4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Decision", "Limit", "WindowPosition", "decide", "log_retry_after", "position", "recent"]


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``requests`` per ``window_seconds``."""

    requests: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class WindowPosition:
    """Where ``now`` falls: the fixed window's number since the epoch and the seconds spent in it."""

    index: int
    elapsed: float


def position(now: float, window_seconds: int) -> WindowPosition:
    index = math.floor(now / window_seconds)
    return WindowPosition(index, now - index * window_seconds)


@dataclass(frozen=True, slots=True)
class Decision:
    """One counted request: allowed or not, and what the ``X-RateLimit-*`` headers report.

    ``reset_after``: seconds until the current fixed window ends (``X-RateLimit-Reset``, at least 1).
    ``retry_after``: seconds until a request would pass (``Retry-After``, at least 1), 0 when allowed."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    retry_after: int


def decide(limit: Limit, previous: int, current: int, elapsed: float) -> Decision:
    """The decision for a request counted as the ``current``-th of its fixed window.

    ``previous`` is the count of the window before, ``elapsed`` the seconds since the current window
    began. Refused requests are counted too (the limiter's own counter, security.md §9), so a client that
    keeps sending while refused keeps itself refused; ``retry_after`` assumes it waits."""
    window = limit.window_seconds
    left = window - elapsed  # of the current window
    estimate = previous * left / window + current
    reset_after = max(1, math.ceil(left))
    if estimate <= limit.requests:
        remaining = math.floor(limit.requests - estimate)
        return Decision(True, limit.requests, remaining, reset_after, 0)
    wait = _wait(limit.requests, window, previous, current, left)
    return Decision(False, limit.requests, 0, reset_after, max(1, math.ceil(wait)))


def _wait(requests: int, window: int, previous: int, current: int, left: float) -> float:
    """Seconds until one more request fits, if none is sent meanwhile."""
    room = requests - current - 1  # what the previous window's weighted share may still use
    if room >= 0 and previous > 0:
        # Within this window the previous one's weight falls linearly: previous * (left - d) / window.
        wait = left - window * room / previous
        if wait < left:
            return max(0.0, wait)
    # In the next window the current count is the previous one, and the new request the only current one.
    if current <= requests - 1:
        return left
    return left + window * (1 - (requests - 1) / current)


def recent(times: Sequence[float], now: float, window: float) -> list[float]:
    """The times still inside the sliding window ending at ``now``, oldest first."""
    return sorted(t for t in times if now - window < t <= now)


def log_retry_after(times: Sequence[float], now: float, window: float, max_count: int) -> int | None:
    """Seconds until the log has room again (at least 1, rounded up), or None when it has room now.

    That is when the oldest of the last ``max_count`` times leaves the window (api.md §10, §13)."""
    inside = recent(times, now, window)
    if len(inside) < max_count:
        return None
    frees_at = inside[len(inside) - max_count] + window
    return max(1, math.ceil(frees_at - now))
