"""The login limit (api.md §13): a sliding window of failures per username, kept in the StateStore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidegate.clock import ManualClock
from tidegate.errors import RateLimited
from tidegate.security.login_throttle import LoginThrottle, retry_after
from tidegate.store.memory import MemoryStateStore

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failures", "now", "expected"),
    [
        ([], 100.0, None),
        ([10.0, 20.0], 100.0, None),
        ([10.0, 20.0, 30.0], 100.0, 210),  # 3 of 3 within 300 s: the oldest leaves at 310
        ([10.0, 20.0, 30.0], 310.0, None),  # it has left
        ([10.0, 20.0, 30.0, 40.0], 310.5, 10),  # 10 has left; 20 leaves at 320
        ([1.0, 2.0, 3.0], 300.9, 1),  # never less than 1 s
    ],
)
def test_retry_after(failures: list[float], now: float, expected: int | None) -> None:
    assert retry_after(failures, now, 300, 3) == expected


async def test_the_limit_holds_until_the_window_frees_a_slot() -> None:
    clock = ManualClock(T0)
    store = MemoryStateStore(clock)
    throttle = LoginThrottle(store, max_failures=3, window_seconds=300)
    for _ in range(3):
        await throttle.check("alice", clock.now())
        await throttle.record_failure("alice", clock.now())
        clock.advance(10)
    await throttle.check("bob", clock.now())  # per username
    with pytest.raises(RateLimited) as caught:
        await throttle.check("alice", clock.now())
    assert caught.value.retry_after == 270
    clock.advance(270)
    await throttle.check("alice", clock.now())


async def test_only_the_last_failures_are_kept() -> None:
    clock = ManualClock(T0)
    store = MemoryStateStore(clock)
    throttle = LoginThrottle(store, max_failures=2, window_seconds=60)
    for _ in range(5):
        await throttle.record_failure("alice", clock.now())
        clock.advance(1)
    from tidegate.store import keys

    raw = await store.get(keys.login_failures("alice"))
    assert raw is not None and raw.count(b",") == 1  # two timestamps
    clock.advance(timedelta(seconds=61).total_seconds())
    assert await store.get(keys.login_failures("alice")) is None  # expired with the window
