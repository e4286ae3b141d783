"""The breakers of every provider, their state shared through the state store (features.md §10).

Each update is a compare-and-set on the provider's record, so concurrent results from any instance are
never lost; a closed breaker costs one store read per call and no write."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from tidegate.breakers.machine import (
    BreakerState,
    Result,
    admit,
    decode,
    effective_state,
    encode,
    record,
    reset,
    trip,
)
from tidegate.clock import Clock
from tidegate.config import CircuitBreakerSettings
from tidegate.errors import BackendUnavailable, NotFound
from tidegate.model.outcome import ActionError
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["Breakers", "Route"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_MAX_CAS_ATTEMPTS = 100
_GAUGE = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call goes: ``provider`` None means every breaker on the chain rejected it."""

    provider: str | None
    fallback_chain: tuple[str, ...]


class Breakers:
    def __init__(
        self, settings: CircuitBreakerSettings, providers: Iterable[str], store: StateStore, clock: Clock
    ) -> None:
        self._policies = {name: settings.policy_for(name) for name in sorted(providers)}
        self._store = store
        self._clock = clock

    def knows(self, provider: str) -> bool:
        return provider in self._policies

    async def route(self, provider: str) -> Route:
        """Admit the call on ``provider``, else on the first fallback whose breaker accepts it."""
        if await self._admit(provider):
            return Route(provider, ())
        chain: list[str] = []
        seen = {provider}
        fallback = self._policies[provider].fallback_provider
        while fallback is not None and fallback not in seen and fallback in self._policies:
            chain.append(fallback)
            seen.add(fallback)
            if await self._admit(fallback):
                return Route(fallback, tuple(chain))
            fallback = self._policies[fallback].fallback_provider
        return Route(None, tuple(chain))

    async def record(self, provider: str, result: object) -> None:
        """Count one final executor result: an ActionError is a failure when retryable, else neutral."""
        if isinstance(result, ActionError):
            counted = Result.FAILURE if result.retryable else Result.NEUTRAL
        else:
            counted = Result.SUCCESS
        policy = self._policies[provider]
        now = self._clock.now().timestamp()
        await self._update(provider, lambda state: (None, record(state, policy, counted, now)))

    async def listing(self) -> list[dict[str, object]]:
        """api.md §11, sorted by provider, each with its effective state."""
        now = self._clock.now().timestamp()
        entries: list[dict[str, object]] = []
        for name, policy in self._policies.items():
            state = decode(await self._store.get(keys.breaker(name)))
            entries.append(
                {
                    "provider": name,
                    "state": effective_state(state, policy, now),
                    "failure_threshold": policy.failure_threshold,
                    "success_threshold": policy.success_threshold,
                    "recovery_timeout_seconds": policy.recovery_timeout_seconds,
                    "fallback_provider": policy.fallback_provider,
                    "consecutive_failures": state.consecutive_failures,
                    "forced": state.forced,
                }
            )
        return entries

    async def gauge(self) -> dict[str, int]:
        """The Prometheus gauge values: 0 closed, 1 half_open, 2 open (effective states)."""
        return {str(e["provider"]): _GAUGE[str(e["state"])] for e in await self.listing()}

    async def trip(self, provider: str) -> None:
        """Force ``provider`` open everywhere; NotFound for a provider without a breaker."""
        self._require(provider)
        await self._update(provider, lambda state: (None, trip(state)))

    async def reset(self, provider: str) -> None:
        self._require(provider)
        await self._update(provider, lambda _state: (None, reset()))

    def _require(self, provider: str) -> None:
        if provider not in self._policies:
            raise NotFound(f"circuit breaker not found: {provider}")

    async def _admit(self, provider: str) -> bool:
        policy = self._policies[provider]
        now = self._clock.now().timestamp()
        return await self._update(provider, lambda state: admit(state, policy, now))

    async def _update(self, provider: str, change: Callable[[BreakerState], tuple[_T, BreakerState]]) -> _T:
        """Read, change, compare-and-set until no writer came between; an unchanged state writes nothing."""
        key = keys.breaker(provider)
        for _ in range(_MAX_CAS_ATTEMPTS):
            current = await self._store.get_versioned(key)
            state = decode(current.value if current is not None else None)
            value, new = change(state)
            if new == state:
                return value
            version = current.version if current is not None else None
            if await self._store.compare_and_set(key, version, encode(new)):
                if new.state != state.state:
                    log.info(
                        "circuit breaker state changed",
                        extra={"provider": provider, "old_state": state.state, "new_state": new.state},
                    )
                return value
        raise BackendUnavailable(f"circuit breaker of {provider} is too contended")
