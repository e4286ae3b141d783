"""open_state_store builds the configured backend (config.md §4.2)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.postgres.pg_support import connection, scratch_schema
from tests.store.redis_support import delete_prefix, free_port, redis_url, unique_prefix
from tests.store.store_backends import service_url
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable, ConfigError
from tidegate.store.factory import open_state_store
from tidegate.store.memory import MemoryStateStore
from tidegate.store.postgres import PostgresStateStore
from tidegate.store.redis import RedisStateStore
from tidegate.store.sqlite import SqliteStateStore


@dataclass(frozen=True)
class _State:
    backend: str = "sqlite"
    path: Path | str = Path("./data/tidegate.db")
    operation_timeout_seconds: float = 2.0
    url: str | None = None
    key_prefix: str = "tidegate"
    pool_size: int = 10


async def test_memory_backend() -> None:
    store = await open_state_store(_State(backend="memory"), ManualClock())
    assert isinstance(store, MemoryStateStore)
    await store.put("k", b"v")
    await store.close()


async def test_sqlite_backend_is_opened_at_the_configured_path(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tidegate.db"
    store = await open_state_store(_State(path=str(path)), ManualClock())
    try:
        assert isinstance(store, SqliteStateStore)
        await store.put("k", b"v")
        assert path.is_file()
    finally:
        await store.close()


async def test_redis_backend_uses_the_url_prefix_and_pool_size() -> None:
    url, prefix = redis_url(), unique_prefix()
    settings = _State(backend="redis", url=url, key_prefix=prefix, pool_size=3)
    store = await open_state_store(settings, ManualClock())
    try:
        assert isinstance(store, RedisStateStore)
        await store.put("k", b"v")
        async with Redis.from_url(url) as raw:
            assert await raw.exists(f"{prefix}:state:k:k") == 1
        # more concurrent calls than connections wait for one instead of failing
        assert sorted(await asyncio.gather(*(store.incr("n") for _ in range(20)))) == list(range(1, 21))
    finally:
        await store.close()
        await delete_prefix(url, prefix)


async def test_redis_backend_that_does_not_answer_fails_to_open() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings = _State(backend="redis", url=url, operation_timeout_seconds=0.5)
    with pytest.raises(BackendUnavailable, match="state store"):
        await open_state_store(settings, ManualClock())


async def test_postgres_backend_uses_the_url_prefix_and_pool_size() -> None:
    async with scratch_schema() as (url, schema):
        async with connection(url) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in url else "?"
        settings = _State(
            backend="postgres", url=f"{url}{separator}search_path={schema}", key_prefix="tg-a", pool_size=2
        )
        store = await open_state_store(settings, ManualClock())
        try:
            assert isinstance(store, PostgresStateStore)
            await store.put("k", b"v")
            async with connection(url) as conn:
                assert await conn.fetchval(f'SELECT value FROM "{schema}"."tg-a_kv"') == b"v"
            # more concurrent calls than connections wait for one instead of failing
            assert sorted(await asyncio.gather(*(store.incr("n") for _ in range(20)))) == list(range(1, 21))
        finally:
            await store.close()


async def test_postgres_backend_that_does_not_answer_fails_to_open() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    settings = _State(backend="postgres", url=url, operation_timeout_seconds=0.5)
    with pytest.raises(BackendUnavailable, match="state store"):
        await open_state_store(settings, ManualClock())


@pytest.mark.parametrize("backend", ["cassandra"])
async def test_other_backends_are_not_in_this_build(backend: str) -> None:
    with pytest.raises(ConfigError) as raised:
        await open_state_store(_State(backend=backend), ManualClock())
    assert raised.value.problems == [f"config: state.backend: {backend!r} is not available in this build"]


def test_service_url_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEGATE_TEST_REDIS_URL", "redis://localhost:6379/0")
    assert service_url("TIDEGATE_TEST_REDIS_URL", "redis") == "redis://localhost:6379/0"


def test_service_url_skips_without_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEGATE_TEST_REDIS_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="TIDEGATE_TEST_REDIS_URL"):
        service_url("TIDEGATE_TEST_REDIS_URL", "redis")


def test_service_url_fails_in_ci_without_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEGATE_TEST_REDIS_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="never skipped"):
        service_url("TIDEGATE_TEST_REDIS_URL", "redis")


def test_service_url_uses_a_default_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEGATE_TEST_X_URL", raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        assert service_url("TIDEGATE_TEST_X_URL", "redis", default=url) == url


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_service_url_with_a_default_that_does_not_answer(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.delenv("TIDEGATE_TEST_X_URL", raising=False)
    monkeypatch.setenv("CI", ci)
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(outcome, match="TIDEGATE_TEST_X_URL or start one at redis:"):
        service_url("TIDEGATE_TEST_X_URL", "redis", default=url)
