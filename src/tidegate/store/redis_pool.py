"""The one way Tidegate connects to Redis: a bounded pool that fails fast and never retries by itself.

Shared by the state store and the event log. Every socket operation is bounded by ``timeout``; the
client never retries a command (a retried script could apply twice), and RESP2 keeps redis-py's check
that drops pooled connections the server closed, so a pool recovers by itself once Redis is back."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["new_redis_pool"]


def new_redis_pool(
    url: str, *, size: int, timeout: float, client_name: str, read_timeout: float | None = None
) -> BlockingConnectionPool:
    """``read_timeout`` overrides ``timeout`` for replies, for blocking commands (XREAD BLOCK)."""
    return BlockingConnectionPool.from_url(
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
