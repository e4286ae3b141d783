"""What only the Redis backend adds: atomicity across instances (separate pools), native expiry and the
scan index, and outages: a dead, hung or restarted Redis gives BackendUnavailable fast and recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import orjson
import pytest
from redis.asyncio import Redis

from tests.store.redis_support import (
    DisposableRedisStore,
    free_port,
    open_redis_store,
    private_redis,
    redis_url,
    unique_prefix,
)
from tidegate.clock import ManualClock, SystemClock
from tidegate.errors import BackendUnavailable, TidegateError
from tidegate.store.redis import RedisStateStore

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
OUTAGE_TIMEOUT = 0.5
#: A call that should fail within OUTAGE_TIMEOUT must not take longer than this (else it hung).
HANG_GUARD = OUTAGE_TIMEOUT * 4 + 1


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RedisStateStore, RedisStateStore]]:
    """Two stores on one Redis and one prefix, each with its own connection pool: two gateway instances."""
    clock, prefix = ManualClock(), unique_prefix()
    one = await open_redis_store(clock, prefix=prefix)
    two = await open_redis_store(clock, prefix=prefix)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


@pytest.fixture
async def live() -> AsyncIterator[DisposableRedisStore]:
    """A store on the system clock whose keys Redis drops natively 50 ms after they expire."""
    store = await open_redis_store(SystemClock(), expiry_grace=0.05)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def raw() -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url()) as client:
        yield client


# --- atomicity across instances ----------------------------------------------------------------------


async def test_100_concurrent_claims_from_two_instances_have_exactly_one_winner(
    pair: tuple[RedisStateStore, RedisStateStore],
) -> None:
    one, two = pair
    claims = [(one if i % 2 else two).put_if_absent("claim", str(i).encode(), ttl=60) for i in range(100)]
    results = await asyncio.gather(*claims)
    winners = [i for i, won in enumerate(results) if won]
    assert len(winners) == 1
    assert await one.get("claim") == await two.get("claim") == str(winners[0]).encode()


async def test_concurrent_incr_from_two_instances_counts_every_call(
    pair: tuple[RedisStateStore, RedisStateStore],
) -> None:
    one, two = pair
    results = await asyncio.gather(*((one, two)[i % 2].incr("n", ttl=60) for i in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await two.get("n") == b"200"


async def test_two_instances_racing_compare_and_set_at_one_version_have_one_winner(
    pair: tuple[RedisStateStore, RedisStateStore],
) -> None:
    one, two = pair
    await one.put("doc", b"v0")
    seen = await two.get_versioned("doc")
    assert seen is not None
    results = await asyncio.gather(
        *(s.compare_and_set("doc", seen.version, f"v{i}".encode()) for i, s in enumerate((one, two) * 10))
    )
    assert results.count(True) == 1


async def test_read_modify_write_loops_on_two_instances_lose_no_update(
    pair: tuple[RedisStateStore, RedisStateStore],
) -> None:
    async def add_one(store: RedisStateStore) -> None:
        while True:
            current = await store.get_versioned("doc")
            count = 0 if current is None else int(orjson.loads(current.value)["count"])
            version = None if current is None else current.version
            if await store.compare_and_set("doc", version, orjson.dumps({"count": count + 1})):
                return

    await asyncio.gather(*(add_one(store) for store in pair * 20))
    assert orjson.loads(await pair[0].get("doc") or b"{}") == {"count": 40}


async def test_timers_scheduled_on_one_instance_are_due_on_the_other(
    pair: tuple[RedisStateStore, RedisStateStore],
) -> None:
    one, two = pair
    await one.schedule("timers", "m", T0)
    assert await two.due("timers", T0) == [("m", T0)]
    assert await two.unschedule("timers", "m") is True
    assert await one.due("timers", T0) == []


async def test_key_prefixes_keep_deployments_apart() -> None:
    clock = ManualClock()
    one, two = await open_redis_store(clock), await open_redis_store(clock)
    try:
        await one.put("k", b"one")
        assert await two.get("k") is None
        assert await two.put_if_absent("k", b"two") is True
        assert (await one.scan("")).items == [("k", b"one")]
        assert (await two.scan("")).items == [("k", b"two")]
    finally:
        await one.close()
        await two.close()


# --- native expiry and the scan index ----------------------------------------------------------------


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll (Redis expiry runs on its own clock); fails after about 5 s."""
    for _ in range(250):
        if await condition():
            return
        await asyncio.sleep(0.02)
    pytest.fail("the condition did not hold within 5 s")


async def test_a_key_expires_for_real(live: DisposableRedisStore, raw: Redis) -> None:
    await live.put("k", b"v", ttl=0.2)
    assert await live.get("k") == b"v"
    pttl = await raw.pttl(f"{live.key_prefix}:state:k:k")
    assert 0 < pttl <= 250  # native expiry: the TTL plus the 50 ms grace
    await _until(lambda: _is_none(live.get("k")))
    await _until(lambda: _count_is(raw.exists(f"{live.key_prefix}:state:k:k"), 0))


async def test_put_without_ttl_removes_the_native_expiry(live: DisposableRedisStore, raw: Redis) -> None:
    await live.put("k", b"v", ttl=5)
    await live.put("k", b"w")
    assert await raw.pttl(f"{live.key_prefix}:state:k:k") == -1
    assert await raw.zcard(f"{live.key_prefix}:state:ttl") == 0


async def test_incr_keeps_the_window_of_the_first_call(live: DisposableRedisStore, raw: Redis) -> None:
    assert await live.incr("n", ttl=0.3) == 1
    first = await raw.pttl(f"{live.key_prefix}:state:k:n")
    await asyncio.sleep(0.05)
    assert await live.incr("n", ttl=0.3) == 2
    assert await raw.pttl(f"{live.key_prefix}:state:k:n") < first
    await _until(lambda: _is_none(live.get("n")))
    assert await live.incr("n", ttl=0.3) == 1


async def test_scan_forgets_keys_that_redis_expired(live: DisposableRedisStore, raw: Redis) -> None:
    for i in range(5):
        await live.put(f"gone:{i}", b"", ttl=0.01)
    await live.put("gone:kept", b"")
    await _until(lambda: _count_is(raw.exists(*(f"{live.key_prefix}:state:k:gone:{i}" for i in range(5))), 0))
    page = await live.scan("gone:", limit=1)
    assert page.items == [("gone:kept", b"")]
    assert page.cursor is None
    assert await raw.zrange(f"{live.key_prefix}:state:keys", 0, -1) == [b"gone:kept"]


async def test_sweep_prunes_the_index_and_deletes_nothing(live: DisposableRedisStore, raw: Redis) -> None:
    for i in range(5):
        await live.put(f"gone:{i}", b"", ttl=0.01)
    await live.put("kept", b"", ttl=60)
    await _until(lambda: _count_is(raw.exists(*(f"{live.key_prefix}:state:k:gone:{i}" for i in range(5))), 0))
    assert await live.sweep(datetime.now(UTC)) == 0
    assert await raw.zrange(f"{live.key_prefix}:state:keys", 0, -1) == [b"kept"]
    assert await raw.zrange(f"{live.key_prefix}:state:ttl", 0, -1) == [b"kept"]


async def test_a_write_with_a_ttl_prunes_a_few_expired_keys(live: DisposableRedisStore, raw: Redis) -> None:
    for i in range(3):
        await live.put(f"gone:{i}", b"", ttl=0.01)
    await _until(lambda: _count_is(raw.exists(*(f"{live.key_prefix}:state:k:gone:{i}" for i in range(3))), 0))
    await live.put("new", b"", ttl=60)
    assert await raw.zcard(f"{live.key_prefix}:state:keys") == 2  # two pruned, one left, one new
    assert await raw.zcard(f"{live.key_prefix}:state:ttl") == 2


async def _is_none(value: Awaitable[object]) -> bool:
    return await value is None


async def _count_is(count: Awaitable[int], expected: int) -> bool:
    return await count == expected


# --- errors -------------------------------------------------------------------------------------------


async def test_a_foreign_value_at_a_store_key_is_backend_unavailable(raw: Redis) -> None:
    store = await open_redis_store(ManualClock())
    try:
        await raw.set(f"{store.key_prefix}:state:k:k", b"not a hash")
        with pytest.raises(BackendUnavailable, match="WRONGTYPE"):
            await store.get("k")
        with pytest.raises(BackendUnavailable):
            await store.put("k", b"v")
    finally:
        await store.close()


async def test_incr_beyond_the_exact_range_is_refused(pair: tuple[RedisStateStore, RedisStateStore]) -> None:
    store = pair[0]
    await store.put("n", str(2**53 - 1).encode())
    with pytest.raises(TidegateError, match="out of range") as raised:
        await store.incr("n")
    assert not isinstance(raised.value, BackendUnavailable)
    with pytest.raises(TidegateError, match="out of range"):
        await store.incr("m", 2**53)
    assert await store.get("n") == str(2**53 - 1).encode()


# --- outages ------------------------------------------------------------------------------------------

_OPERATIONS: list[Callable[[RedisStateStore], Awaitable[object]]] = [
    lambda s: s.ping(),
    lambda s: s.get("k"),
    lambda s: s.put("k", b"v", ttl=1),
    lambda s: s.put_if_absent("k", b"v"),
    lambda s: s.incr("n"),
    lambda s: s.compare_and_set("k", 3, b"v"),
    lambda s: s.scan("p"),
    lambda s: s.schedule("timers", "m", T0),
    lambda s: s.due("timers", T0),
    lambda s: s.sweep(T0),
]


async def _fails_fast(operation: Awaitable[object]) -> BackendUnavailable:
    async with asyncio.timeout(HANG_GUARD):
        with pytest.raises(BackendUnavailable) as raised:
            await operation
    return raised.value


async def test_every_operation_on_a_port_where_nothing_listens_is_backend_unavailable() -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    store = RedisStateStore(url, ManualClock(), operation_timeout=OUTAGE_TIMEOUT)
    try:
        for operation in _OPERATIONS:
            error = await _fails_fast(operation(store))
            assert "s3cret-pw" not in str(error)
        await _fails_fast(store.open())
    finally:
        await store.close()


async def test_a_closed_store_refuses_calls_and_reopens() -> None:
    store = await open_redis_store(ManualClock())
    try:
        await store.put("k", b"v")
        await RedisStateStore.close(store)  # only the pool: keep the keys
        await _fails_fast(store.get("k"))
        await store.open()
        assert await store.get("k") == b"v"
    finally:
        await store.close()


async def test_a_restarted_redis_serves_the_same_store_again() -> None:
    async with private_redis() as server:
        store = RedisStateStore(server.url, ManualClock(), operation_timeout=OUTAGE_TIMEOUT)
        try:
            await store.open()
            await asyncio.gather(*(store.put(f"k{i}", b"v") for i in range(10)))  # fill the pool
            await server.kill()
            for operation in _OPERATIONS:
                await _fails_fast(operation(store))
            await server.start()
            # no reopen: stale connections are replaced and the scripts are loaded again
            assert await store.put_if_absent("claim", b"x") is True
            assert sorted(await asyncio.gather(*(store.incr("n") for _ in range(10)))) == list(range(1, 11))
            await store.ping()
        finally:
            await store.close()


async def test_a_hung_redis_times_out_and_the_store_recovers_when_it_answers() -> None:
    async with private_redis() as server:
        store = RedisStateStore(server.url, ManualClock(), operation_timeout=OUTAGE_TIMEOUT)
        try:
            await store.put("k", b"v")
            server.pause()
            error = await _fails_fast(store.get("k"))
            assert "timed out" in str(error)
            server.resume()
            assert await store.get("k") == b"v"
            assert await store.incr("n") == 1
        finally:
            server.resume()
            await store.close()


async def test_connections_closed_by_the_server_do_not_poison_later_calls() -> None:
    async with private_redis() as server, Redis.from_url(server.url) as admin:
        store = RedisStateStore(server.url, ManualClock(), operation_timeout=OUTAGE_TIMEOUT)
        try:
            await asyncio.gather(*(store.put(f"k{i}", b"v") for i in range(10)))
            clients = await admin.client_list()
            ours = [c for c in clients if c.get("name") == "tidegate-state"]
            assert ours
            for client in ours:
                await admin.client_kill_filter(_id=client["id"])
            results = await asyncio.gather(*(store.get(f"k{i}") for i in range(10)))
            assert results == [b"v"] * 10
        finally:
            await store.close()
