"""Circuit breakers (features.md §10): a pure state machine and its store-backed, cluster-wide registry."""

from tidegate.breakers.machine import BreakerState, Result
from tidegate.breakers.registry import Breakers, Route

__all__ = ["BreakerState", "Breakers", "Result", "Route"]
