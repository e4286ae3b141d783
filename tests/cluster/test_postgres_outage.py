"""A real server with state, audit and the event log on PostgreSQL behind a TCP proxy, with the database
taken away and then hung: requests that need it get 503 within the operation timeout, /health names every
part, and once it answers again the same server serves every request without a restart (``_outage``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.cluster._outage import RULES, assert_serving, assert_unavailable, wait_until_healthy
from tests.helpers.server import running_server
from tests.postgres.pg_support import connection, postgres_url, scratch_schema
from tests.postgres.tcp_proxy import TcpProxy

FAILING = ["state_store", "audit_store", "event_log"]


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[TcpProxy, httpx.AsyncClient]]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-once.yaml").write_text(RULES)
    async with scratch_schema() as (url, schema):
        async with connection(url) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        proxy = TcpProxy(postgres_url())
        await proxy.start()
        state = {
            "backend": "postgres",
            "url": f"{proxy.url}?search_path={schema}",
            "operation_timeout_seconds": 0.5,
        }
        settings = make_settings(
            tmp_path, state=state, audit={"backend": "postgres"}, stream={"keep_alive_seconds": 1}
        )
        try:
            async with (
                running_server(settings) as base,
                httpx.AsyncClient(base_url=base, timeout=30) as client,
            ):
                yield proxy, client
        finally:
            await proxy.stop()


async def test_postgres_gone_then_back(proxied: tuple[TcpProxy, httpx.AsyncClient]) -> None:
    proxy, client = proxied
    await assert_serving(client, 1)
    await proxy.stop()
    await assert_unavailable(client, 2, FAILING)
    await proxy.start()
    await wait_until_healthy(client)
    await assert_serving(client, 2)


async def test_postgres_hung_then_answering_again(proxied: tuple[TcpProxy, httpx.AsyncClient]) -> None:
    proxy, client = proxied
    await assert_serving(client, 1)
    proxy.pause()
    try:
        await assert_unavailable(client, 2, FAILING)
    finally:
        proxy.resume()
    await wait_until_healthy(client)
    await assert_serving(client, 2)
