"""Several real servers (uvicorn on loopback) sharing one state backend: a Redis key prefix or a
PostgreSQL schema of their own, removed afterwards. Each instance has its own directory (rules, SQLite
audit), as separate hosts would; the event log follows the state backend (``stream.backend = auto``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.api.conftest import make_settings
from tests.helpers.server import running_server
from tests.postgres.pg_support import connection, scratch_schema
from tests.store.redis_support import delete_prefix, redis_url, unique_prefix
from tidegate.clock import Clock
from tidegate.store.base import StateStore
from tidegate.store.postgres import PostgresStateStore
from tidegate.store.redis import RedisStateStore

__all__ = ["Cluster", "clients", "cluster", "shared_state"]


@dataclass(frozen=True)
class Cluster:
    urls: list[str]
    state: Mapping[str, object]  # the ``state`` section every instance runs with

    async def open_store(self, clock: Clock) -> StateStore:
        """Another client of the shared store (an instance the test drives by hand); close it after."""
        url, backend = str(self.state["url"]), self.state["backend"]
        if backend == "redis":
            store: RedisStateStore | PostgresStateStore = RedisStateStore(
                url, clock, key_prefix=str(self.state["key_prefix"])
            )
        else:
            store = PostgresStateStore(url, clock, pool_size=2)
        await store.open()
        return store


@asynccontextmanager
async def shared_state(backend: str) -> AsyncIterator[dict[str, object]]:
    """The ``state`` section of a backend private to this test."""
    if backend == "redis":
        url, prefix = redis_url(), unique_prefix()
        try:
            yield {"backend": "redis", "url": url, "key_prefix": prefix}
        finally:
            await delete_prefix(url, prefix)
        return
    async with scratch_schema() as (base, schema):
        async with connection(base) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield {"backend": "postgres", "url": f"{base}{'&' if '?' in base else '?'}search_path={schema}"}


@asynccontextmanager
async def cluster(
    directory: Path,
    backend: str,
    rule_file: str,
    *,
    clock: Clock | None = None,
    count: int = 2,
    **sections: object,
) -> AsyncIterator[Cluster]:
    """``count`` servers on one shared ``backend``, each with ``rule_file`` as its only rule file."""
    async with shared_state(backend) as state, AsyncExitStack() as stack:
        urls = []
        for n in range(count):
            home = directory / f"instance-{n}"
            (home / "rules").mkdir(parents=True)
            (home / "rules" / "10-rules.yaml").write_text(rule_file)
            settings = make_settings(home, state=state, **sections)
            urls.append(await stack.enter_async_context(running_server(settings, clock=clock)))
        yield Cluster(urls, state)


@asynccontextmanager
async def clients(urls: list[str]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10.0)) for url in urls]
