"""Run one action on one provider: per-attempt timeout, retries, backoff, concurrency caps (features.md §9).

A permit (the provider's own, then the process-wide one) is held only while an attempt runs, never during
a backoff sleep, so waiting retries do not starve fresh work; permits are handed out in FIFO order. No
task is created per attempt, and an attempt that never waits arms no timer (``_deadline.run_until``): the
benchmark path is two free-permit checks and the call."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias

from tidegate.errors import ProviderNotFound
from tidegate.executor._deadline import run_until
from tidegate.executor._permits import Permits
from tidegate.executor.retry import backoff_delay
from tidegate.model.action import Action
from tidegate.model.outcome import ActionError, ProviderResponse
from tidegate.providers.base import Provider, ProviderError

__all__ = [
    "AttemptObserver",
    "ExecutionResult",
    "Executor",
    "ExecutorConfig",
    "ProviderLookup",
    "RecordAttempt",
]

log = logging.getLogger(__name__)

ExecutionResult: TypeAlias = ProviderResponse | ActionError
#: ``record_attempt(provider, result, seconds)``; result is ``success``, ``failure`` or ``error``.
RecordAttempt: TypeAlias = Callable[[str, str, float], None]
Sleep: TypeAlias = Callable[[float], Awaitable[object]]


class ExecutorConfig(Protocol):
    """The ``executor`` settings the runner reads (config.md §4.7)."""

    @property
    def max_retries(self) -> int: ...
    @property
    def timeout_seconds(self) -> float: ...
    @property
    def max_concurrent(self) -> int: ...
    @property
    def backoff_base_ms(self) -> int: ...
    @property
    def backoff_multiplier(self) -> float: ...
    @property
    def backoff_max_ms(self) -> int: ...
    @property
    def jitter(self) -> bool: ...


class ProviderLookup(Protocol):
    """What the runner needs from the provider registry."""

    def get(self, name: str) -> Provider | None: ...
    def timeout_for(self, name: str) -> float | None: ...
    def max_concurrent_for(self, name: str) -> int | None: ...


class AttemptObserver(Protocol):
    """Hears each attempt as it happens (the dispatch stream's ``attempt_started`` / ``attempt_failed``)."""

    async def on_attempt_start(self, provider: str, attempt: int) -> None:
        """The attempt begins (it may still wait for a permit). Awaited outside any permit, as is
        ``on_attempt_end``, so a slow observer never holds up other executions."""

    async def on_attempt_end(
        self, provider: str, attempt: int, error: ProviderError | None, retry_in: float | None
    ) -> None:
        """The attempt ended: ``error`` None on success; ``retry_in`` is the backoff in seconds before the
        next attempt, or None when no attempt follows."""


class Executor:
    """Executes actions on registered providers; safe to share by every dispatch in the process."""

    def __init__(
        self,
        registry: ProviderLookup,
        settings: ExecutorConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        record_attempt: RecordAttempt | None = None,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._record = record_attempt
        self._permits = Permits(settings.max_concurrent)
        self._provider_permits: dict[str, Permits | None] = {}

    async def execute(
        self,
        action: Action,
        provider: str,
        *,
        max_retries: int | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-attempt limit, not a deadline for this call
        observer: AttemptObserver | None = None,
    ) -> ExecutionResult:
        """Run ``action`` on ``provider`` until it succeeds, fails for good or runs out of attempts.

        Attempts = 1 + ``max_retries`` (default: the executor's). Each attempt's timeout is ``timeout``, else
        the provider's ``timeout_seconds``, else the executor's. Raises ``ProviderNotFound`` for an
        unregistered provider (the pipeline checks this before any state change)."""
        target = self._registry.get(provider)
        if target is None:
            raise ProviderNotFound(provider)
        settings = self._settings
        attempts = 1 + (settings.max_retries if max_retries is None else max(0, max_retries))
        per_attempt = timeout or self._registry.timeout_for(provider) or settings.timeout_seconds
        limit = self._provider_limit(provider)
        attempt = 1
        while True:
            if observer is not None:
                await _observe(observer.on_attempt_start(provider, attempt))
            result = await self._attempt(target, provider, action, attempt, per_attempt, limit)
            if isinstance(result, ProviderResponse):
                if observer is not None:
                    await _observe(observer.on_attempt_end(provider, attempt, None, None))
                return result
            retry_in = self._retry_in(result, attempt, attempts)
            if observer is not None:
                await _observe(observer.on_attempt_end(provider, attempt, result, retry_in))
            if retry_in is None:
                return ActionError(result.code, result.message, result.retryable, attempt)
            await self._sleep(retry_in)
            attempt += 1

    def _retry_in(self, error: ProviderError, attempt: int, attempts: int) -> float | None:
        """The backoff before the next attempt, or None when this error ends the execution."""
        if not error.retryable or attempt >= attempts:
            return None
        s = self._settings
        return backoff_delay(
            attempt,
            s.backoff_base_ms,
            s.backoff_multiplier,
            s.backoff_max_ms,
            s.jitter,
            self._rng,
            error.retry_after,
        )

    def _provider_limit(self, provider: str) -> Permits | None:
        try:
            return self._provider_permits[provider]
        except KeyError:
            cap = self._registry.max_concurrent_for(provider)
            limit = Permits(cap) if cap else None
            self._provider_permits[provider] = limit
            return limit

    async def _attempt(
        self,
        target: Provider,
        provider: str,
        action: Action,
        attempt: int,
        seconds: float,
        limit: Permits | None,
    ) -> ProviderResponse | ProviderError:
        """One call under the permits and the timeout; every failure comes back as a ``ProviderError``.

        The provider's permit is taken first, so attempts queued behind a provider cap hold no
        process-wide permit and never starve other providers."""
        if limit is not None and not limit.try_acquire():
            await limit.acquire()
        try:
            permits = self._permits
            if not permits.try_acquire():
                await permits.acquire()
            try:
                return await self._call(target, provider, action, attempt, seconds)
            finally:
                permits.release()
        finally:
            if limit is not None:
                limit.release()

    async def _call(
        self, target: Provider, provider: str, action: Action, attempt: int, seconds: float
    ) -> ProviderResponse | ProviderError:
        started = time.perf_counter()
        outcome: ProviderResponse | ProviderError
        try:
            deadline = asyncio.get_running_loop().time() + seconds
            outcome = await run_until(target.execute(action, attempt), deadline)
        except ProviderError as exc:
            outcome = exc
        except TimeoutError:
            outcome = ProviderError("timeout", f"timeout: no result within {seconds:g} s")
        except Exception:
            log.exception(
                "provider %s raised an unexpected error on action %s (attempt %d)",
                provider,
                action.id,
                attempt,
            )
            outcome = ProviderError("execution_failed", "provider error", retryable=False)
        if self._record is not None:
            result = "error" if isinstance(outcome, ProviderError) else _result_label(outcome)
            self._record(provider, result, time.perf_counter() - started)
        return outcome


async def _observe(notification: Awaitable[None]) -> None:
    """Observers only watch: one that fails is logged and never changes the execution."""
    try:
        await notification
    except Exception:
        log.exception("attempt observer failed")


def _result_label(response: ProviderResponse) -> str:
    """``failure`` only when the provider reported it; ``partial`` was accepted, so it counts as success."""
    return "failure" if response.status == "failure" else "success"
