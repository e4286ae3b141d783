"""Real Redis for the store tests: the shared test server, per-test key prefixes, and private servers.

Every store a test opens gets its own key prefix, deleted when the store is closed, so tests never see
each other's keys and leave nothing behind on a developer's Redis. ``RedisServer`` runs a throwaway
``redis-server`` on a free port for tests that kill, pause or restart it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis

from tidegate.clock import Clock
from tidegate.store.redis import RedisStateStore

REDIS_ENV = "TIDEGATE_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """The shared test Redis: ``TIDEGATE_TEST_REDIS_URL``, else the local default (skip or, in CI, fail)."""
    from tests.store import store_backends  # imported here: store_backends imports this module

    return store_backends.service_url(REDIS_ENV, "redis", default=DEFAULT_REDIS_URL)


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:24]}"


async def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key a store with ``prefix`` wrote."""
    async with Redis.from_url(url) as raw:
        keys = [key async for key in raw.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await raw.unlink(*keys)


class DisposableRedisStore(RedisStateStore):
    """A RedisStateStore whose keys are deleted when it is closed (every time: close is idempotent)."""

    def __init__(self, url: str, clock: Clock, **options: Any) -> None:
        super().__init__(url, clock, **options)
        self.url = url

    async def close(self) -> None:
        await super().close()
        await delete_prefix(self.url, self.key_prefix)


async def open_redis_store(
    clock: Clock, url: str | None = None, prefix: str | None = None, **options: Any
) -> DisposableRedisStore:
    """An opened store on the shared test Redis (or ``url``) under a fresh key prefix."""
    options.setdefault("operation_timeout", 5.0)
    store = DisposableRedisStore(url or redis_url(), clock, key_prefix=prefix or unique_prefix(), **options)
    await store.open()
    return store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_redis_server() -> str:
    """The redis-server binary; skips without it, except under CI=true, where it fails."""
    binary = shutil.which("redis-server")
    if binary is not None:
        return binary
    reason = "redis-server is not installed"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: Redis tests are never skipped)")
    pytest.skip(reason)


class RedisServer:
    """A private, non-persistent redis-server on one port that a test can kill, pause and restart."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        self._process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await self._wait_until_answering()

    async def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            await process.wait()

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing answers (a hung backend)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    async def _wait_until_answering(self) -> None:
        for _ in range(200):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.025)
                continue
            writer.write(b"PING\r\n")
            reply = await reader.readline()
            writer.close()
            if reply == b"+PONG\r\n":
                return
            await asyncio.sleep(0.025)
        raise RuntimeError(f"redis-server did not start on port {self.port}")


@asynccontextmanager
async def private_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer(require_redis_server(), free_port())
    await server.start()
    try:
        yield server
    finally:
        server.resume()
        await server.kill()
