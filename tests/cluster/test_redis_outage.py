"""A real server on Redis state and a Redis event log, with Redis killed and then hung: requests that need
Redis get 503 within the operation timeout, /health names ``state_store`` and ``event_log``, and once
Redis answers again the same server serves every request without a restart (``_outage``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.cluster._outage import RULES, action, assert_serving, assert_unavailable, wait_until_healthy
from tests.helpers.server import running_server
from tests.store.redis_support import RedisServer, private_redis

FAILING = ["state_store", "event_log"]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[RedisServer, httpx.AsyncClient]]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-once.yaml").write_text(RULES)
    async with private_redis() as redis:
        state = {"backend": "redis", "url": redis.url, "operation_timeout_seconds": 0.5}
        settings = make_settings(tmp_path, state=state, stream={"keep_alive_seconds": 1})
        async with running_server(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield redis, client


async def test_redis_killed_then_restarted(served: tuple[RedisServer, httpx.AsyncClient]) -> None:
    redis, client = served
    await assert_serving(client, 1)
    await redis.kill()
    await assert_unavailable(client, 2, FAILING)
    # An action that needs no state still executes; its event waits in the spool (features.md §11).
    async with asyncio.timeout(5):
        plain = await client.post("/v1/dispatch", json=action(2, "plain"))
    assert (plain.status_code, plain.json()["outcome"]) == (200, "executed")
    await redis.start()  # empty: nothing was persisted
    await wait_until_healthy(client)
    await assert_serving(client, 2)


async def test_redis_hung_then_answering_again(served: tuple[RedisServer, httpx.AsyncClient]) -> None:
    redis, client = served
    await assert_serving(client, 1)
    redis.pause()
    try:
        await assert_unavailable(client, 2, FAILING)
    finally:
        redis.resume()
    await wait_until_healthy(client)
    # The claim sent while Redis hung lands when it wakes up; the retry must still execute.
    await assert_serving(client, 2)
