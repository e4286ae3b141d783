"""Percentiles of a latency sample (nearest rank, no interpolation, as wrk reports them)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(ordered: Sequence[float], p: float) -> float:
    """The smallest value with at least ``p`` % of the sample at or below it; ``ordered`` must be sorted."""
    if not ordered:
        return math.nan
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(len(ordered), max(rank, 1)) - 1]
