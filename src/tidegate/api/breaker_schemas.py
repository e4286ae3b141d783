"""Wire shapes of the circuit-breaker endpoints (api.md §11), for the OpenAPI document (``DOC_MODELS``);
the handlers build their bodies from ``breakers.Breakers``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["BREAKER_MODELS", "BreakerChange", "BreakerList", "BreakerSummary"]

_State = Literal["closed", "open", "half_open"]


class BreakerSummary(BaseModel):
    provider: str
    state: _State = Field(description="the effective state: open past its recovery timeout shows half_open")
    failure_threshold: int
    success_threshold: int
    recovery_timeout_seconds: int
    fallback_provider: str | None
    consecutive_failures: int
    forced: bool = Field(description="tripped by an operator: open, without probes, until reset")


class BreakerList(BaseModel):
    circuit_breakers: list[BreakerSummary]


class BreakerChange(BaseModel):
    provider: str
    state: Literal["open", "closed"]
    message: Literal["circuit breaker tripped", "circuit breaker reset"]


BREAKER_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (BreakerList, "serialization"),
    (BreakerChange, "serialization"),
]
