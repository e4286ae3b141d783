"""The one way Tidegate connects to Redis: a bounded pool that fails fast and never retries by itself.

Shared by the state store and the event log. Every socket operation is bounded by ``timeout``; the
client never retries a command (a retried script could apply twice), and RESP2 keeps redis-py's check
that drops pooled connections the server closed, so a pool recovers by itself once Redis is back.

Waiters for a connection are served in arrival order (``FairConnectionPool``): with more concurrent
commands than connections, redis-py's own pool can starve one waiter until its timeout while Redis is
healthy, which would fail a dispatch for nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["FairConnectionPool", "new_redis_pool"]


class FairConnectionPool(BlockingConnectionPool):
    """``BlockingConnectionPool`` whose waiters get connections first come, first served.

    redis-py's pool wakes one waiter per release through an ``asyncio.Condition``, but a task asking
    for a connection before the woken one runs takes it, and the woken one queues again at the back.
    Under steady contention a waiter can starve until ``timeout`` (measured: 8 s, with 32 tasks on 10
    connections). A FIFO semaphore of ``max_connections`` permits in front of the pool hands out the
    connections in arrival order; the pool itself then never has to wait."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._permits = asyncio.Semaphore(self.max_connections)
        self._permitted: set[AbstractConnection] = set()

    @property
    def contended(self) -> bool:
        """Every connection is out (tasks may be queued for one): a connection kept aside by its user
        should go back now, or the queue waits while the keeper's next call jumps it."""
        return self._permits.locked()

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        try:
            async with asyncio.timeout(self.timeout):
                await self._permits.acquire()
        except TimeoutError as err:
            raise RedisConnectionError("No connection available.") from err
        try:
            connection: AbstractConnection = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except BaseException:
            self._permits.release()
            raise
        self._permitted.add(connection)
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        """Also called by the pool for a connection it could not hand out: that one holds no permit."""
        try:
            await super().release(connection)
        finally:
            if connection in self._permitted:
                self._permitted.discard(connection)
                self._permits.release()


def new_redis_pool(
    url: str, *, size: int, timeout: float, client_name: str, read_timeout: float | None = None
) -> FairConnectionPool:
    """``read_timeout`` overrides ``timeout`` for replies, for blocking commands (XREAD BLOCK)."""
    return FairConnectionPool.from_url(
        url,
        max_connections=size,
        timeout=timeout,
        socket_timeout=timeout if read_timeout is None else read_timeout,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        client_name=client_name,
        # RESP2: with RESP3, redis-py 8 turns on maintenance notifications, which also turns off the
        # pool's check that drops connections the server closed (they would fail the next call)
        protocol=2,
    )
