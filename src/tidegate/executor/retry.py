"""The backoff policy between attempts (features.md §9). Pure: the caller supplies the random source."""

from __future__ import annotations

import random

__all__ = ["backoff_delay"]


def backoff_delay(
    retry_number: int,
    base_ms: float,
    multiplier: float,
    max_ms: float,
    jitter: bool,
    rng: random.Random,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before retry ``retry_number`` (1 = the first retry).

    d = min(max_ms, base_ms × multiplier^(n−1)); with ``jitter`` the delay is uniform in [d/2, d] ("equal
    jitter": never less than half the schedule, so retries of many actions spread out without bunching at
    zero). A server's ``Retry-After`` (seconds) raises the delay to that value, still capped at ``max_ms``."""
    exponent = max(0, retry_number - 1)
    try:
        scheduled = base_ms * multiplier**exponent
    except OverflowError:
        scheduled = max_ms
    delay_ms = min(max_ms, scheduled)
    if jitter:
        delay_ms = rng.uniform(delay_ms / 2, delay_ms)
    if retry_after is not None:
        delay_ms = min(max_ms, max(delay_ms, retry_after * 1000.0))
    return delay_ms / 1000.0
