"""Cosine similarity of embedding vectors (features.md §18)."""

from __future__ import annotations

import tracemalloc

import pytest

from tidegate.embeddings import cosine, unit


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([1.0, 0.0], [1.0, 0.0], 1.0),
        ([1.0, 0.0], [0.0, 3.0], 0.0),
        ([2.0, 0.0], [-5.0, 0.0], -1.0),
        ([1.0, 1.0], [1.0, 0.0], 0.7071067811865475),
        ([0.0, 0.0], [1.0, 0.0], 0.0),  # an all-zeros vector
        ([1.0, 0.0], [1.0, 0.0, 0.0], 0.0),  # lengths differ
    ],
)
def test_cosine(a: list[float], b: list[float], expected: float) -> None:
    assert cosine(unit(a), unit(b)) == pytest.approx(expected)


def test_unit_scales_to_length_one_and_keeps_zeros() -> None:
    assert tuple(unit([3.0, 4.0])) == pytest.approx((0.6, 0.8))
    assert tuple(unit([0.0, 0.0, 0.0])) == (0.0, 0.0, 0.0)


def test_cached_vectors_take_8_bytes_per_dimension() -> None:
    """The caches hold up to 11,000 vectors by default: Python float tuples would cost 4 times as much."""
    values = [0.25 + i / 10_000 for i in range(1536)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        vector = unit(values)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(vector) == 1536
    assert kept < 12 * 1536  # a tuple of floats keeps about 32 bytes per dimension


def test_rounding_never_leaves_minus_one_to_one() -> None:
    vector = unit([0.1] * 300)
    assert -1.0 <= cosine(vector, vector) <= 1.0
