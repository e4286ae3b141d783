"""A real server on PostgreSQL state and audit: while the database is down, requests that need it get
503 backend_unavailable (retryable) at once and /health names the failing parts; when it is back, the
same server answers again without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import running_server
from tests.postgres.pg_support import connection, postgres_url, scratch_schema
from tests.postgres.tcp_proxy import TcpProxy
from tidegate.config import Settings
from tidegate.config.loader import validate_data

RULES = """\
rules:
  - name: once
    condition: {field: action.action_type, eq: welcome}
    action: {type: deduplicate, ttl_seconds: 300}
"""


def _action(n: int) -> dict[str, object]:
    return {
        "namespace": "notifications",
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": "welcome",
        "dedup_key": f"user-{n}",
        "payload": {"n": n},
    }


def _settings(directory: Path, url: str) -> Settings:
    (directory / "rules").mkdir()
    (directory / "rules" / "10-once.yaml").write_text(RULES)
    data = {
        "state": {"backend": "postgres", "url": url, "operation_timeout_seconds": 5.0},
        "audit": {"backend": "postgres"},
        "stream": {"backend": "local"},
        "rules": {"watch": False},
    }
    settings, problems = validate_data(data, directory)
    assert settings is not None, problems
    return settings


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy to the test server and the server URL that uses it, with tables in a fresh schema."""
    async with scratch_schema() as (url, schema):
        async with connection(url) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        proxy = TcpProxy(postgres_url())
        await proxy.start()
        try:
            async with running_server(_settings(tmp_path, f"{proxy.url}?search_path={schema}")) as base:
                yield proxy, base
        finally:
            await proxy.stop()


async def test_requests_get_503_while_postgres_is_down_and_succeed_once_it_is_back(
    proxied: tuple[TcpProxy, str],
) -> None:
    proxy, base = proxied
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        first = await client.post("/v1/dispatch", json=_action(1))
        assert (first.status_code, first.json()["outcome"]) == (200, "executed")
        assert (await client.get(f"/v1/audit/{first.json()['action_id']}")).status_code == 200

        await proxy.stop()
        async with asyncio.timeout(10):  # failing fast: well within the 5 s operation timeout and retries
            down = await client.post("/v1/dispatch", json=_action(2))
            health = await client.get("/health")
            audit = await client.get("/v1/audit")
        assert_error(down, 503, "backend_unavailable", retryable=True)
        assert "postgres 127.0.0.1" in down.json()["message"]
        assert (health.status_code, health.json()["failing"]) == (503, ["state_store", "audit_store"])
        assert_error(audit, 503, "backend_unavailable", retryable=True)

        await proxy.start()
        again = await client.post("/v1/dispatch", json=_action(2))
        assert (again.status_code, again.json()["outcome"]) == (200, "executed")
        duplicate = await client.post("/v1/dispatch", json=_action(2))
        assert duplicate.json()["outcome"] == "deduplicated"
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/v1/audit", params={"tenant": "tenant-1"})).json()["total"] == 3
