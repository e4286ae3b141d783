"""The backoff policy (features.md §9), table-driven with a seeded random source."""

from __future__ import annotations

import random

import pytest

from tidegate.executor import backoff_delay


@pytest.mark.parametrize(
    ("retry", "expected"),
    [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (8, 12.8), (9, 25.6), (10, 30.0), (50, 30.0)],
)
def test_default_schedule_without_jitter(retry: int, expected: float) -> None:
    assert backoff_delay(retry, 100, 2.0, 30_000, False, random.Random(0)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("retry", "base", "multiplier", "cap", "expected"),
    [
        (1, 250, 3.0, 10_000, 0.25),
        (2, 250, 3.0, 10_000, 0.75),
        (3, 250, 3.0, 10_000, 2.25),
        (5, 250, 3.0, 10_000, 10.0),
        (3, 100, 1.0, 30_000, 0.1),
        (1, 500, 2.0, 500, 0.5),
        (2000, 100, 10.0, 60_000, 60.0),
    ],
)
def test_schedule_parameters(retry: int, base: int, multiplier: float, cap: int, expected: float) -> None:
    assert backoff_delay(retry, base, multiplier, cap, False, random.Random(0)) == pytest.approx(expected)


def test_jitter_is_uniform_between_half_and_full_delay() -> None:
    rng = random.Random(42)
    for retry, full in [(1, 0.1), (2, 0.2), (3, 0.4), (12, 30.0)]:
        delays = [backoff_delay(retry, 100, 2.0, 30_000, True, rng) for _ in range(500)]
        assert all(full / 2 <= d <= full for d in delays)
        assert min(delays) < full * 0.6 and max(delays) > full * 0.9  # spread over the whole range


def test_jitter_is_reproducible_with_a_seed() -> None:
    first = [backoff_delay(n, 100, 2.0, 30_000, True, random.Random(7)) for n in (1, 2, 3)]
    again = [backoff_delay(n, 100, 2.0, 30_000, True, random.Random(7)) for n in (1, 2, 3)]
    assert first == again
    expected = [random.Random(7).uniform(d / 2, d) / 1000 for d in (100, 200, 400)]
    assert first == pytest.approx(expected)


@pytest.mark.parametrize(
    ("retry", "retry_after", "jitter", "expected"),
    [
        (1, 2.0, False, 2.0),  # raises the 0.1 s delay
        (3, 0.1, False, 0.4),  # never lowers it
        (1, 120.0, False, 30.0),  # still capped
        (1, 0.0, False, 0.1),
        (1, 5.0, True, 5.0),  # applied after jitter
    ],
)
def test_retry_after_raises_the_delay_up_to_the_cap(
    retry: int, retry_after: float, jitter: bool, expected: float
) -> None:
    delay = backoff_delay(retry, 100, 2.0, 30_000, jitter, random.Random(0), retry_after)
    assert delay == pytest.approx(expected)
