"""What a server must answer while a backend is away, and once it is back (features.md §20, api.md §2).

``assert_serving`` exercises every part that needs the state store and the event log: a dispatch that
claims a dedup key, a rule toggle, a stream, /health. ``assert_unavailable`` checks that, with the backend
gone or hung, each of them answers 503 ``backend_unavailable`` (retryable) within ``DEADLINE`` (never a
500, never a hang) and that /health names the failing parts."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import httpx

from tests.helpers.errors import assert_error
from tests.stream_http._client import subscribe

__all__ = ["DEADLINE", "RULES", "action", "assert_serving", "assert_unavailable", "wait_until_healthy"]

RULES = """\
rules:
  - name: once
    condition: {field: action.action_type, eq: welcome}
    action: {type: deduplicate, ttl_seconds: 300}
"""

#: Every answer during an outage arrives within this many seconds (a generous bound: never a hang).
DEADLINE = 5.0


def action(n: int, action_type: str = "welcome") -> dict[str, object]:
    return {
        "namespace": "notifications",
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": action_type,
        "dedup_key": f"user-{n}",
        "payload": {"n": n},
    }


async def assert_serving(client: httpx.AsyncClient, n: int) -> None:
    first = await client.post("/v1/dispatch", json=action(n))
    assert (first.status_code, first.json()["outcome"]) == (200, "executed"), first.text
    again = await client.post("/v1/dispatch", json=action(n))
    assert again.json()["outcome"] == "deduplicated"
    toggled = await client.put("/v1/rules/once/enabled", json={"enabled": True})
    assert toggled.status_code == 200, toggled.text
    async with subscribe(client, {"tenant": "tenant-1"}):
        pass
    health = await client.get("/health")
    assert (health.status_code, health.json()["status"]) == (200, "ok")


async def assert_unavailable(client: httpx.AsyncClient, n: int, failing: Sequence[str]) -> None:
    async with asyncio.timeout(DEADLINE):
        dispatched = await client.post("/v1/dispatch", json=action(n))
        toggled = await client.put("/v1/rules/once/enabled", json={"enabled": False})
        streamed = await client.get("/v1/stream", params={"tenant": "tenant-1"})
        health = await client.get("/health")
    assert_error(dispatched, 503, "backend_unavailable", retryable=True)
    assert_error(toggled, 503, "backend_unavailable", retryable=True)
    assert_error(streamed, 503, "backend_unavailable", retryable=True)
    body = health.json()
    assert health.status_code == 503
    assert list(body) == ["status", "failing", "metrics"]
    assert (body["status"], body["failing"]) == ("unavailable", list(failing))


async def wait_until_healthy(client: httpx.AsyncClient, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        for _ in itertools.count():
            if (await client.get("/health")).status_code == 200:
                return
            await asyncio.sleep(0.1)
