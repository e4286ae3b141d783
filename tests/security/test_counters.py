"""Rate-limit counters in the StateStore (security.md §9): the window counter and the sliding log on every
backend, the configured scopes and overrides, the fixed route limits, and counting across instances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.postgres.pg_support import open_postgres_store, unique_schema
from tests.store.redis_support import open_redis_store, unique_prefix
from tests.store.store_backends import BACKENDS, build_store
from tidegate.clock import ManualClock
from tidegate.config.access import RateLimitSettings
from tidegate.errors import RateLimited
from tidegate.postgres.names import TableNames
from tidegate.security.counters import SlidingLog, WindowCounter
from tidegate.security.rate_limit import Limit
from tidegate.security.rate_limiter import ROUTE_LIMITS, RateLimiter, RouteLimit
from tidegate.store import keys
from tidegate.store.base import StateStore

#: The start of a 60 s window (Unix 1770474600).
T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
LIMIT = Limit(3, 60)
EMBEDDINGS = ("POST", "/v1/embeddings/similarity")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[StateStore]:
    opened = await build_store(request.param, clock, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=["redis", "postgres"])
async def shared(
    request: pytest.FixtureRequest, clock: ManualClock
) -> AsyncIterator[tuple[StateStore, StateStore]]:
    """Two connections to one Redis key prefix or one PostgreSQL schema: two instances' stores."""
    if request.param == "redis":
        prefix = unique_prefix()
        first: StateStore = await open_redis_store(clock, prefix=prefix)
        second: StateStore = await open_redis_store(clock, prefix=prefix)
    else:
        names = TableNames(schema=unique_schema())
        first = await open_postgres_store(clock, names=names)
        second = await open_postgres_store(clock, names=names)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


def _now(clock: ManualClock) -> float:
    return clock.now().timestamp()


async def test_the_window_counter_counts_and_weighs_the_previous_window(
    store: StateStore, clock: ManualClock
) -> None:
    counter = WindowCounter(store, "caller")
    answers = [await counter.hit("alice", LIMIT, _now(clock)) for _ in range(4)]
    assert [(d.allowed, d.remaining) for d in answers] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert answers[3].retry_after == 90  # 4 counted: in the next window 4 * w + 1 <= 3 once w <= 1/2
    assert (await counter.hit("bob", LIMIT, _now(clock))).allowed  # per identifier
    clock.advance(80)  # 20 s into the next window: 4 * 40/60 = 2.67 + 1 > 3
    assert not (await counter.hit("alice", LIMIT, _now(clock))).allowed
    clock.advance(100)  # two windows on: nothing counted any more
    fresh = await counter.hit("alice", LIMIT, _now(clock))
    assert (fresh.allowed, fresh.remaining, fresh.reset_after) == (True, 2, 60)


async def test_counters_expire_two_windows_after_they_start(store: StateStore, clock: ManualClock) -> None:
    counter = WindowCounter(store, "tenant")
    await counter.hit("acme", LIMIT, _now(clock))
    key = keys.rate_counter("tenant", "acme", 60, int(_now(clock)) // 60)
    assert await store.get(key) == b"1"
    clock.advance(121)
    await store.sweep(clock.now())
    assert await store.get(key) is None


async def test_the_previous_window_is_read_once_per_window(store: StateStore, clock: ManualClock) -> None:
    """After its first request of a window, a process pays one ``incr`` per request and no ``get``."""
    counter = WindowCounter(store, "caller")
    await counter.hit("alice", LIMIT, _now(clock))
    clock.advance(60)
    reads: list[str] = []
    real_get = store.get

    async def counting_get(key: str) -> bytes | None:
        reads.append(key)
        return await real_get(key)

    store.get = counting_get  # type: ignore[method-assign]
    for _ in range(3):
        await counter.hit("alice", LIMIT, _now(clock))
    assert reads == [keys.rate_counter("caller", "alice", 60, int(_now(clock)) // 60 - 1)]


async def test_the_sliding_log_refuses_without_counting(store: StateStore, clock: ManualClock) -> None:
    log = SlidingLog(store, Limit(2, 60), lambda ident: keys.rate_log("test", ident))
    assert await log.hit("alice", _now(clock)) is None
    clock.advance(10)
    assert await log.hit("alice", _now(clock)) is None
    clock.advance(10)
    assert await log.hit("alice", _now(clock)) == 40  # the first leaves at 60
    assert await log.hit("alice", _now(clock)) == 40  # a refused request is not counted
    clock.advance(40)
    assert await log.hit("alice", _now(clock)) is None


async def test_the_embedding_route_allows_5_per_minute_per_caller(
    store: StateStore, clock: ManualClock
) -> None:
    assert ROUTE_LIMITS[EMBEDDINGS] == RouteLimit("embeddings", Limit(5, 60))
    limiter = RateLimiter(RateLimitSettings(), store)  # the fixed limit holds whatever ``enabled`` says
    for _ in range(5):
        await limiter.limit_route(*EMBEDDINGS, "alice", clock.now())
        clock.advance(3)
    with pytest.raises(RateLimited) as refused:
        await limiter.limit_route(*EMBEDDINGS, "alice", clock.now())
    assert refused.value.retry_after == 45  # the first request, at 0 s, leaves the window at 60 s
    await limiter.limit_route(*EMBEDDINGS, "bob", clock.now())
    await limiter.limit_route("POST", "/v1/dispatch", "alice", clock.now())  # no fixed limit there
    clock.advance(45)
    await limiter.limit_route(*EMBEDDINGS, "alice", clock.now())


async def test_a_route_table_entry_limits_that_route_only(store: StateStore, clock: ManualClock) -> None:
    limiter = RateLimiter(
        RateLimitSettings(), store, routes={("GET", "/v1/rules/{}"): RouteLimit("probe", Limit(1, 10))}
    )
    await limiter.limit_route("GET", "/v1/rules/{name}", "alice", clock.now())  # matched by template
    with pytest.raises(RateLimited):
        await limiter.limit_route("GET", "/v1/rules/{rule}", "alice", clock.now())
    await limiter.limit_route(*EMBEDDINGS, "alice", clock.now())


async def test_scopes_follow_the_configuration(store: StateStore, clock: ManualClock) -> None:
    assert RateLimiter(RateLimitSettings(), store).callers is None  # both off by default (config.md)
    assert RateLimiter(RateLimitSettings(), store).tenants is None
    settings = RateLimitSettings.model_validate(
        {
            "enabled": True,
            "callers": {"requests_per_window": 2, "overrides": {"ci": {"requests_per_window": 5}}},
            "tenants": {"enabled": True, "window_seconds": 10, "overrides": {"big": {"window_seconds": 30}}},
        }
    )
    limiter = RateLimiter(settings, store)
    assert limiter.callers is not None and limiter.tenants is not None
    assert (await limiter.callers.hit("alice", clock.now())).limit == 2
    ci = await limiter.callers.hit("ci", clock.now())
    assert (ci.limit, ci.reset_after) == (5, 60)  # an override keeps the scope's window
    assert (await limiter.tenants.hit("acme", clock.now())).reset_after == 10
    big = await limiter.tenants.hit("big", clock.now())
    assert (big.limit, big.reset_after) == (10000, 30)


async def test_two_instances_share_one_count(
    shared: tuple[StateStore, StateStore], clock: ManualClock
) -> None:
    one, two = (WindowCounter(store, "caller") for store in shared)
    assert (await one.hit("alice", LIMIT, _now(clock))).remaining == 2
    assert (await two.hit("alice", LIMIT, _now(clock))).remaining == 1
    assert (await one.hit("alice", LIMIT, _now(clock))).remaining == 0
    assert not (await two.hit("alice", LIMIT, _now(clock))).allowed
    clock.advance(60)  # both read the other's count as the previous window
    assert not (await one.hit("alice", LIMIT, _now(clock))).allowed
    logs = [SlidingLog(store, Limit(1, 60), lambda ident: keys.rate_log("test", ident)) for store in shared]
    assert await logs[0].hit("alice", _now(clock)) is None
    assert await logs[1].hit("alice", _now(clock)) == 60
