"""Rate limits across instances (security.md §9, features.md §20): two real servers on one Redis, and on one
PostgreSQL, count one caller's and one tenant's requests once for the cluster; with the state store gone,
a limited endpoint answers 503 ``backend_unavailable`` rather than letting uncounted requests through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.cluster._cluster import Cluster, clients, cluster
from tests.helpers.errors import assert_error
from tests.helpers.server import running_server
from tests.store.redis_support import private_redis
from tidegate.clock import ManualClock

RULES = "rules: []\n"
#: The start of a 60 s window (Unix 1770474600).
START = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


def action(tenant: str) -> dict[str, object]:
    return {
        "namespace": "notifications",
        "tenant": tenant,
        "provider": "log",
        "action_type": "ping",
        "payload": {},
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(params=["redis", "postgres"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Cluster]:
    limits = {
        "enabled": True,
        "callers": {"requests_per_window": 4},
        "tenants": {"enabled": True, "requests_per_window": 2},
    }
    async with cluster(tmp_path, request.param, RULES, clock=clock, rate_limit=limits) as running:
        yield running


async def test_one_caller_and_one_tenant_are_counted_once_for_the_cluster(pair: Cluster) -> None:
    async with clients(pair.urls) as (a, b):
        first = await a.post("/v1/dispatch", json=action("acme"))
        second = await b.post("/v1/dispatch", json=action("acme"))
        assert [first.headers["x-ratelimit-remaining"], second.headers["x-ratelimit-remaining"]] == ["3", "2"]
        assert_error(await a.post("/v1/dispatch", json=action("acme")), 429, "rate_limited", retryable=True)
        assert (await b.get("/v1/rules")).status_code == 200  # the caller's 4th request, on either instance
        refused = await a.get("/v1/rules")
    assert_error(refused, 429, "rate_limited", retryable=True)
    assert refused.headers["x-ratelimit-limit"] == "4"


async def test_concurrent_requests_on_both_instances_never_exceed_the_limit(pair: Cluster) -> None:
    async with clients(pair.urls) as (a, b):
        answers = await asyncio.gather(*(client.get("/v1/rules") for client in (a, b) * 6))
    assert sorted(answer.status_code for answer in answers) == [200] * 4 + [429] * 8


async def test_a_limited_endpoint_answers_503_while_the_store_is_away(tmp_path: Path) -> None:
    async with private_redis() as redis:
        state = {"backend": "redis", "url": redis.url, "operation_timeout_seconds": 0.5}
        settings = make_settings(tmp_path, state=state, rate_limit={"enabled": True})
        async with running_server(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert (await client.get("/v1/rules")).status_code == 200
            await redis.kill()
            async with asyncio.timeout(5):
                rules = await client.get("/v1/rules")  # needs no store except for the count
            assert_error(rules, 503, "backend_unavailable", retryable=True)
            assert "x-ratelimit-limit" not in rules.headers
