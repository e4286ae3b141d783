"""Approvals across two real servers on one Redis, and on one PostgreSQL (features.md §20): an approval
created on one instance is decided on the other, concurrent decisions on both execute once, the
generated signing key is shared, and the expiry timer fires on exactly one instance."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.cluster._cluster import Cluster, clients, cluster
from tests.helpers.errors import assert_error
from tidegate.clock import ManualClock

RULES = """\
rules:
  - name: approve-refunds
    priority: 1
    condition: {field: action.action_type, eq: refund}
    action: {type: request_approval, notify_provider: log, timeout_seconds: 600}
"""
START = datetime(2026, 2, 7, 14, 30, 30, tzinfo=UTC)


def refund(tenant: str = "acme") -> dict[str, object]:
    return {
        "namespace": "payments",
        "tenant": tenant,
        "provider": "log",
        "action_type": "refund",
        "payload": {},
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(params=["redis", "postgres"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Cluster]:
    # No approvals.keys: both instances must find the one generated key in the shared store.
    async with cluster(
        tmp_path, request.param, RULES, clock=clock, background={"poll_interval_seconds": 0.1}
    ) as running:
        yield running


def link(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


async def hold(client: httpx.AsyncClient, tenant: str = "acme") -> dict[str, str]:
    response = await client.post("/v1/dispatch", json=refund(tenant))
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    assert body["outcome"] == "pending_approval"
    return body


async def executed(clients_: list[httpx.AsyncClient]) -> int:
    total = 0
    for client in clients_:  # counters belong to each process
        total += (await client.get("/metrics")).json()["executed"]
    return total


async def test_created_on_one_instance_approved_on_the_other(pair: Cluster) -> None:
    async with clients(pair.urls) as (a, b):
        held = await hold(a)
        listed = (await b.get("/v1/approvals")).json()
        assert [item["approval_id"] for item in listed["approvals"]] == [held["approval_id"]]
        assert (await b.get(link(held["approve_url"]))).status_code == 200  # the confirm page
        answer = await b.post(link(held["approve_url"]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"]["outcome"] == "executed"
        assert_error(await a.post(link(held["reject_url"])), 409, "approval_decided")
        status = (await a.get(link(held["approve_url"]).replace("/approve?", "?"))).json()
        assert (status["status"], status["decided_by"]) == ("approved", "link")
        assert await executed([a, b]) == 1


async def test_concurrent_decisions_on_both_instances_execute_once(pair: Cluster) -> None:
    async with clients(pair.urls) as (a, b):
        held = await hold(b)
        approve = link(held["approve_url"])
        answers = await asyncio.gather(*(client.post(approve) for client in (a, b) * 8))
        assert sorted(answer.status_code for answer in answers) == [200] + [409] * 15
        assert await executed([a, b]) == 1


async def test_the_expiry_timer_fires_on_one_instance(pair: Cluster, clock: ManualClock) -> None:
    async with clients(pair.urls) as (a, b):
        held = await hold(a, "expiring")
        clock.advance(601)
        async with asyncio.timeout(5):
            while True:
                if (await b.get("/v1/approvals", params={"status": "expired"})).json()["total"] == 1:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a few more polls on both instances
        expiries = []
        for client in (a, b):  # each instance keeps its own SQLite audit trail
            records = (await client.get("/v1/audit", params={"outcome": "approval_expired"})).json()
            expiries.extend(record["action_id"] for record in records["records"])
        assert expiries == [held["action_id"]]
        assert_error(await b.post(link(held["approve_url"])), 410, "approval_expired")
