"""Embedding vectors and their cosine similarity (features.md §18). Pure.

Vectors are scaled to unit length once, when they enter a cache, so every comparison afterwards is one
dot product: a rule set with several ``semantic_match`` predicates compares the same text many times.
They are kept as ``array('d')``, 8 bytes per dimension: a tuple of Python floats costs 32, and the default
caches hold 11,000 vectors (a 1536-dimension OpenAI vector: 12 KB instead of 49 KB, so 135 MB, not 540 MB,
when both caches are full)."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from operator import mul
from typing import TypeAlias

__all__ = ["Vector", "cosine", "unit"]

#: A vector of unit length, or all zeros (a text the model has no token for). Never mutated.
Vector: TypeAlias = Sequence[float]


def unit(values: Sequence[float]) -> array[float]:
    """``values`` scaled to length 1; all zeros stays all zeros (its similarity to anything is 0.0)."""
    norm = math.sqrt(math.fsum(v * v for v in values))
    if norm == 0.0 or not math.isfinite(norm):
        return array("d", bytes(8 * len(values)))
    return array("d", [v / norm for v in values])  # a list: a generator over-allocates the array


def cosine(a: Vector, b: Vector) -> float:
    """Cosine similarity of two ``unit`` vectors, in [-1, 1]; 0.0 when their lengths differ."""
    if len(a) != len(b):
        return 0.0
    dot: float = sum(map(mul, a, b))
    return max(-1.0, min(1.0, dot))
