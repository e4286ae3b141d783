"""The executor: attempts, timeouts, retries, concurrency caps, observers and metrics (features.md §9)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tidegate.errors import ProviderNotFound
from tidegate.executor import Executor
from tidegate.model.action import Action
from tidegate.model.outcome import ActionError, ProviderResponse
from tidegate.providers import ProviderError, ProviderRegistry, Registration

OK = ProviderResponse("success", {"ok": True}, {})


@dataclass(frozen=True)
class Settings:
    max_retries: int = 3
    timeout_seconds: float = 30.0
    max_concurrent: int = 100
    backoff_base_ms: int = 100
    backoff_multiplier: float = 2.0
    backoff_max_ms: int = 30_000
    jitter: bool = False


def action(n: int = 0) -> Action:
    return Action(
        id=f"a-{n}",
        namespace="ns",
        tenant="t",
        provider="p",
        action_type="notify",
        payload={"n": n},
        created_at=datetime(2026, 2, 7, tzinfo=UTC),
    )


Step = ProviderResponse | BaseException | Callable[[], object]


class Scripted:
    """Plays one scripted step per call (the last step repeats); records the attempts it was given."""

    def __init__(self, name: str, *steps: Step) -> None:
        self.name = name
        self.steps = list(steps) or [OK]
        self.attempts: list[int] = []

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        self.attempts.append(attempt)
        step = self.steps[min(len(self.attempts), len(self.steps)) - 1]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, ProviderResponse):
            return step
        result = step()
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, ProviderResponse)
        return result

    async def close(self) -> None:
        return None


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_executor(
    *providers: Scripted | Registration, sleep: Sleeps | None = None, **settings: object
) -> tuple[Executor, Sleeps]:
    sleeps = sleep or Sleeps()
    registrations = [p if isinstance(p, Registration) else Registration(p) for p in providers]
    executor = Executor(ProviderRegistry(registrations), Settings(**settings), sleep=sleeps)  # type: ignore[arg-type]
    return executor, sleeps


def retryable(message: str = "connection error: connection refused") -> ProviderError:
    return ProviderError("connection", message)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def on_attempt_start(self, provider: str, attempt: int) -> None:
        self.calls.append(("start", provider, attempt))

    async def on_attempt_end(
        self, provider: str, attempt: int, error: ProviderError | None, retry_in: float | None
    ) -> None:
        self.calls.append(("end", provider, attempt, None if error is None else error.code, retry_in))


# -- attempts and results --------------------------------------------------------------------------


async def test_first_attempt_success_returns_the_response() -> None:
    provider = Scripted("p", OK)
    executor, sleeps = make_executor(provider)
    assert await executor.execute(action(), "p") is OK
    assert provider.attempts == [1]
    assert sleeps.delays == []


async def test_failure_status_response_is_returned_not_retried() -> None:
    failure = ProviderResponse("failure", {"why": "x"}, {})
    provider = Scripted("p", failure)
    executor, _ = make_executor(provider)
    assert await executor.execute(action(), "p") is failure
    assert provider.attempts == [1]


async def test_retryable_errors_are_retried_with_backoff_until_success() -> None:
    provider = Scripted("p", retryable(), retryable(), OK)
    executor, sleeps = make_executor(provider)
    assert await executor.execute(action(), "p") is OK
    assert provider.attempts == [1, 2, 3]
    assert sleeps.delays == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (1, 2), (3, 4), (10, 11)])
async def test_attempts_are_one_plus_max_retries(max_retries: int, attempts: int) -> None:
    provider = Scripted("p", retryable())
    executor, sleeps = make_executor(provider, max_retries=max_retries)
    result = await executor.execute(action(), "p")
    assert result == ActionError("connection", "connection error: connection refused", True, attempts)
    assert provider.attempts == list(range(1, attempts + 1))
    assert len(sleeps.delays) == attempts - 1


async def test_explicit_max_retries_overrides_the_setting() -> None:
    provider = Scripted("p", retryable())
    executor, _ = make_executor(provider, max_retries=3)
    result = await executor.execute(action(), "p", max_retries=0)
    assert isinstance(result, ActionError) and result.attempts == 1


async def test_non_retryable_error_fails_at_once() -> None:
    provider = Scripted(
        "p", ProviderError("execution_failed", "HTTP 404 from https://h.test/x", retryable=False)
    )
    executor, sleeps = make_executor(provider)
    result = await executor.execute(action(), "p")
    assert result == ActionError("execution_failed", "HTTP 404 from https://h.test/x", False, 1)
    assert sleeps.delays == []


async def test_result_comes_from_the_last_error() -> None:
    provider = Scripted("p", retryable(), ProviderError("configuration", "no URL"))
    executor, _ = make_executor(provider)
    assert await executor.execute(action(), "p") == ActionError("configuration", "no URL", False, 2)


async def test_retry_after_raises_the_backoff() -> None:
    provider = Scripted("p", ProviderError("rate_limited", "HTTP 429 from x", retry_after=5.0), OK)
    executor, sleeps = make_executor(provider)
    assert await executor.execute(action(), "p") is OK
    assert sleeps.delays == [5.0]


async def test_jitter_uses_the_injected_rng() -> None:
    provider = Scripted("p", retryable(), retryable(), OK)
    sleeps = Sleeps()
    settings = Settings(jitter=True)
    executor = Executor(
        ProviderRegistry([Registration(provider)]), settings, sleep=sleeps, rng=random.Random(3)
    )
    await executor.execute(action(), "p")
    rng = random.Random(3)
    assert sleeps.delays == pytest.approx([rng.uniform(50, 100) / 1000, rng.uniform(100, 200) / 1000])


async def test_unknown_provider_raises_provider_not_found() -> None:
    executor, _ = make_executor(Scripted("p"))
    with pytest.raises(ProviderNotFound, match="Provider not found: nope"):
        await executor.execute(action(), "nope")


async def test_unexpected_exception_is_logged_and_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    provider = Scripted("p", RuntimeError("db password=hunter2 leaked"))
    executor, _ = make_executor(provider)
    result = await executor.execute(action(7), "p")
    assert result == ActionError("execution_failed", "provider error", False, 1)
    (record,) = [r for r in caplog.records if r.name == "tidegate.executor.runner"]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert "a-7" in record.getMessage() and "p" in record.getMessage()


# -- timeouts --------------------------------------------------------------------------------------


def hang() -> object:
    return asyncio.sleep(3600)


async def test_attempt_timeout_is_a_retryable_timeout_error() -> None:
    provider = Scripted("p", hang)
    executor, sleeps = make_executor(provider, max_retries=2)
    result = await executor.execute(action(), "p", timeout=0.01)
    assert result == ActionError("timeout", "timeout: no result within 0.01 s", True, 3)
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize(
    ("explicit", "provider_timeout", "executor_timeout"),
    [(0.01, 60.0, 60.0), (None, 0.01, 60.0), (None, None, 0.01)],
)
async def test_timeout_precedence(
    explicit: float | None, provider_timeout: float | None, executor_timeout: float
) -> None:
    registration = Registration(Scripted("p", hang), timeout_seconds=provider_timeout)
    executor, _ = make_executor(registration, max_retries=0, timeout_seconds=executor_timeout)
    result = await executor.execute(action(), "p", timeout=explicit)
    assert isinstance(result, ActionError) and result.code == "timeout"


async def test_provider_raising_timeout_error_itself_counts_as_timeout() -> None:
    executor, _ = make_executor(Scripted("p", TimeoutError()), max_retries=0)
    result = await executor.execute(action(), "p")
    assert isinstance(result, ActionError) and (result.code, result.retryable) == ("timeout", True)


async def test_cancellation_propagates_and_frees_the_permit() -> None:
    started = asyncio.Event()

    async def block() -> ProviderResponse:
        started.set()
        await asyncio.sleep(3600)
        return OK

    provider = Scripted("p", block, OK)
    executor, _ = make_executor(provider, max_concurrent=1)
    task = asyncio.create_task(executor.execute(action(), "p"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(executor.execute(action(), "p"), 1) is OK


# -- concurrency -----------------------------------------------------------------------------------


class Gauge:
    """A provider that tracks how many calls are in flight; each call yields a few times."""

    def __init__(self, name: str, fail_first: bool = False, shared: Gauge | None = None) -> None:
        self.name = name
        self.in_flight = 0
        self.peak = 0
        self.order: list[str] = []
        self.fail_first = fail_first
        self.seen: set[str] = set()
        self.shared = shared

    def _enter(self, delta: int) -> None:
        self.in_flight += delta
        self.peak = max(self.peak, self.in_flight)
        if self.shared is not None:
            self.shared._enter(delta)

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        self._enter(1)
        self.order.append(action.id)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            self._enter(-1)
        if self.fail_first and action.id not in self.seen:
            self.seen.add(action.id)
            raise ProviderError("connection", "connection error: connection refused")
        return OK

    async def close(self) -> None:
        return None


async def test_global_cap_bounds_attempts_in_flight() -> None:
    gauge = Gauge("p")
    executor, _ = make_executor(gauge, max_concurrent=2)
    results = await asyncio.gather(*(executor.execute(action(n), "p") for n in range(10)))
    assert all(r is OK for r in results)
    assert gauge.peak == 2


async def test_global_cap_is_shared_by_all_providers() -> None:
    total = Gauge("total")
    a, b = Gauge("a", shared=total), Gauge("b", shared=total)
    executor, _ = make_executor(a, b, max_concurrent=3)
    await asyncio.gather(*(executor.execute(action(n), "a" if n % 2 else "b") for n in range(12)))
    assert total.peak == 3


async def test_provider_cap_bounds_that_provider_only() -> None:
    capped, free = Gauge("capped"), Gauge("free")
    executor, _ = make_executor(Registration(capped, max_concurrent=1), free, max_concurrent=10)
    await asyncio.gather(
        *(executor.execute(action(n), "capped") for n in range(5)),
        *(executor.execute(action(n), "free") for n in range(5)),
    )
    assert capped.peak == 1
    assert free.peak == 5


async def test_waiting_attempts_run_in_fifo_order() -> None:
    gauge = Gauge("p")
    executor, _ = make_executor(gauge, max_concurrent=1)
    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(executor.execute(action(n), "p")))
        await asyncio.sleep(0)  # each task reaches the semaphore before the next is created
    await asyncio.gather(*tasks)
    assert gauge.order == [f"a-{n}" for n in range(6)]


async def test_no_permit_is_held_during_backoff() -> None:
    release = asyncio.Event()
    backoff_started = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        backoff_started.set()
        await release.wait()

    gauge = Gauge("p", fail_first=True)
    registry = ProviderRegistry([Registration(gauge, max_concurrent=1)])
    executor = Executor(registry, Settings(max_concurrent=1), sleep=slow_sleep)
    retrying = asyncio.create_task(executor.execute(action(1), "p"))
    await backoff_started.wait()
    gauge.seen.add("a-2")  # the second action succeeds at once
    assert await asyncio.wait_for(executor.execute(action(2), "p"), 1) is OK  # runs while a-1 sleeps
    release.set()
    assert await retrying is OK
    assert gauge.order == ["a-1", "a-2", "a-1"]


# -- observer and metrics --------------------------------------------------------------------------


async def test_observer_hears_every_attempt_in_order() -> None:
    provider = Scripted("p", retryable(), ProviderError("rate_limited", "HTTP 429", retry_after=1.0), OK)
    executor, _ = make_executor(provider)
    observer = Recorder()
    await executor.execute(action(), "p", observer=observer)
    assert observer.calls == [
        ("start", "p", 1),
        ("end", "p", 1, "connection", pytest.approx(0.1)),
        ("start", "p", 2),
        ("end", "p", 2, "rate_limited", 1.0),
        ("start", "p", 3),
        ("end", "p", 3, None, None),
    ]


async def test_observer_gets_no_retry_delay_for_the_last_failure() -> None:
    provider = Scripted("p", retryable(), ProviderError("serialization", "bad", retryable=False))
    executor, _ = make_executor(provider)
    observer = Recorder()
    await executor.execute(action(), "p", observer=observer)
    assert observer.calls[-1] == ("end", "p", 2, "serialization", None)

    exhausted = Recorder()
    await make_executor(Scripted("p", retryable()), max_retries=1)[0].execute(
        action(), "p", observer=exhausted
    )
    assert exhausted.calls[-1] == ("end", "p", 2, "connection", None)


async def test_a_failing_observer_does_not_change_the_execution(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def on_attempt_start(self, provider: str, attempt: int) -> None:
            raise RuntimeError("client went away")

        async def on_attempt_end(
            self, provider: str, attempt: int, error: ProviderError | None, retry_in: float | None
        ) -> None:
            raise RuntimeError("client went away")

    provider = Scripted("p", retryable(), OK)
    executor, _ = make_executor(provider)
    assert await executor.execute(action(), "p", observer=Broken()) is OK
    assert provider.attempts == [1, 2]
    assert caplog.text.count("attempt observer failed") == 4


async def test_record_attempt_labels_each_attempt() -> None:
    records: list[tuple[str, str, float]] = []
    provider = Scripted("p", retryable(), ProviderResponse("failure"))
    registry = ProviderRegistry(
        [Registration(provider), Registration(Scripted("q", ProviderResponse("partial")))]
    )
    executor = Executor(registry, Settings(), sleep=Sleeps(), record_attempt=lambda *r: records.append(r))
    await executor.execute(action(), "p")
    await executor.execute(action(), "q")
    assert [(p, r) for p, r, _ in records] == [("p", "error"), ("p", "failure"), ("q", "success")]
    assert all(seconds >= 0 for _, _, seconds in records)


def _codes(results: Sequence[object]) -> list[str]:
    return [r.code for r in results if isinstance(r, ActionError)]


async def test_many_concurrent_executions_complete() -> None:
    provider = Scripted("p", OK)
    executor, _ = make_executor(provider, max_concurrent=7)
    results = await asyncio.gather(*(executor.execute(action(n), "p") for n in range(500)))
    assert _codes(results) == [] and len(provider.attempts) == 500
