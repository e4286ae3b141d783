"""The rate-limit arithmetic (security.md §9): the weighted two-window estimate and its waits."""

from __future__ import annotations

import pytest

from tidegate.security.rate_limit import Decision, Limit, decide, log_retry_after, position

LIMIT = Limit(requests=10, window_seconds=60)


def test_position_is_aligned_to_unix_time() -> None:
    at = position(1_770_474_630.5, 60)
    assert (at.index * 60, at.elapsed) == (1_770_474_600, 30.5)


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "expected"),
    [
        (0, 1, 0.0, Decision(True, 10, 9, 60, 0)),
        (0, 10, 59.5, Decision(True, 10, 0, 1, 0)),  # the 10th fits; Reset is at least 1
        (10, 1, 30.0, Decision(True, 10, 4, 30, 0)),  # half the previous window still counts: 5 + 1
        (10, 6, 30.0, Decision(False, 10, 0, 30, 12)),  # 5 + 6 = 11; at 42 s: 10 * 0.3 + 6 + 1 = 10
        (20, 1, 0.0, Decision(False, 10, 0, 60, 36)),  # at 36 s: 20 * 0.4 + 1 + 1 = 10
        (0, 11, 20.0, Decision(False, 10, 0, 40, 51)),  # next window, at 10.9 s: 11 * 49.1 / 60 + 1 <= 10
    ],
)
def test_decide(previous: int, current: int, elapsed: float, expected: Decision) -> None:
    assert decide(LIMIT, previous, current, elapsed) == expected


def _passes(previous: int, current: int, elapsed: float, wait: float) -> bool:
    """Would one more request pass ``wait`` seconds later, with none sent meanwhile?"""
    window = LIMIT.window_seconds
    later = elapsed + wait
    if later >= window:  # a new window: the current count becomes the previous one
        previous, current, later = current, 0, later - window
    if later >= window:
        previous, later = 0, later - window
    return decide(LIMIT, previous, current + 1, later).allowed


@pytest.mark.parametrize("previous", [0, 3, 10, 25, 200])
@pytest.mark.parametrize("current", [1, 5, 9, 11, 40])
@pytest.mark.parametrize("elapsed", [0.0, 7.25, 30.0, 59.9])
def test_retry_after_is_the_first_whole_second_a_request_passes(
    previous: int, current: int, elapsed: float
) -> None:
    decision = decide(LIMIT, previous, current, elapsed)
    if decision.allowed:
        assert decision.retry_after == 0
        return
    assert decision.retry_after >= 1
    assert _passes(previous, current, elapsed, decision.retry_after)
    if decision.retry_after > 1:
        assert not _passes(previous, current, elapsed, decision.retry_after - 1)


def test_refused_requests_keep_the_count_growing() -> None:
    first = decide(LIMIT, 0, 11, 0.0)
    hammered = decide(LIMIT, 0, 30, 0.0)
    assert not first.allowed and not hammered.allowed
    assert hammered.retry_after > first.retry_after


def test_the_sliding_log_frees_a_slot_when_the_oldest_time_leaves() -> None:
    times = [100.0, 110.0, 120.0, 130.0, 140.0]
    assert log_retry_after(times, 150.0, 60, 5) == 10  # 100 leaves at 160
    assert log_retry_after(times, 160.0, 60, 5) is None
    assert log_retry_after(times[:4], 150.0, 60, 5) is None
