"""The Redis pool (store/redis_pool.py) serves waiters in arrival order and keeps its bound, on a real Redis.

redis-py's own pool lets a task that asks for a connection just as one is released take it ahead of the
task already waiting, which under steady contention starves a waiter until its timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.store.redis_support import redis_url
from tidegate.store.redis_pool import FairConnectionPool, new_redis_pool


@pytest.fixture
async def pool() -> AsyncIterator[FairConnectionPool]:
    pool = new_redis_pool(redis_url(), size=1, timeout=5.0, client_name="tidegate-test-pool")
    try:
        yield pool
    finally:
        await pool.disconnect()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_released_connection_goes_to_the_waiter_not_to_the_next_command(
    pool: FairConnectionPool,
) -> None:
    held = await pool.get_connection()
    waiter = asyncio.create_task(pool.get_connection())
    await _settle()
    assert not waiter.done()  # the only connection is held

    async def release_and_ask_again() -> AbstractConnection:
        """A busy task: its next command asks for a connection before the woken waiter has run."""
        await pool.release(held)
        return await pool.get_connection()

    busy = asyncio.create_task(release_and_ask_again())
    await _settle()
    assert waiter.done() and not busy.done()
    await pool.release(waiter.result())
    await pool.release(await asyncio.wait_for(busy, 5))


async def test_a_waiter_that_gets_nothing_in_time_fails_as_redis_py_would() -> None:
    pool = new_redis_pool(redis_url(), size=1, timeout=0.2, client_name="tidegate-test-pool")
    try:
        held = await pool.get_connection()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await pool.get_connection()
        await pool.release(held)
        await pool.release(await pool.get_connection())  # the timed-out waiter took no permit with it
    finally:
        await pool.disconnect()


async def test_many_clients_share_the_bounded_connections_and_every_command_completes() -> None:
    pool = new_redis_pool(redis_url(), size=2, timeout=5.0, client_name="tidegate-test-pool")
    client = Redis(connection_pool=pool)
    try:
        replies = await asyncio.gather(*(client.ping() for _ in range(200)))
        assert all(replies)
        assert len(pool._in_use_connections) == 0
        assert len(pool._available_connections) <= 2
    finally:
        await client.aclose()
        await pool.disconnect()
