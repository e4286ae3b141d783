"""``GET /health``, ``GET /metrics``, ``GET /metrics/prometheus`` (api.md §2)."""

from __future__ import annotations

import httpx
import pytest

from tidegate.services import Services

from .conftest import ACTION

COUNTER_KEYS = [
    "dispatched",
    "executed",
    "deduplicated",
    "suppressed",
    "rerouted",
    "throttled",
    "failed",
    "grouped",
    "pending_approval",
    "state_changed",
    "chain_started",
    "circuit_open",
    "dry_run",
]


async def test_health_is_ok_with_the_counters(client: httpx.AsyncClient) -> None:
    await client.post("/v1/dispatch", json=ACTION)
    response = await client.get("/health", headers={"content-type": "application/json"})
    body = response.json()
    assert (response.status_code, list(body), body["status"]) == (200, ["status", "metrics"], "ok")
    assert body["metrics"] == (await client.get("/metrics")).json()


async def test_health_is_503_with_the_failing_parts(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(self: Services) -> list[str]:
        return ["state_store", "event_log"]

    monkeypatch.setattr(Services, "probe", failing)
    response = await client.get("/health")
    body = response.json()
    assert response.status_code == 503
    assert list(body) == ["status", "failing", "metrics"]
    assert (body["status"], body["failing"]) == ("unavailable", ["state_store", "event_log"])
    assert list(body["metrics"]) == COUNTER_KEYS


async def test_metrics_keys_in_order_and_invariant(client: httpx.AsyncClient) -> None:
    await client.post("/v1/dispatch", json={**ACTION, "action_type": "spam"})
    body = (await client.get("/metrics")).json()
    assert list(body) == COUNTER_KEYS
    assert body["dispatched"] == sum(body[key] for key in COUNTER_KEYS[1:-1])
    assert body["suppressed"] >= 1


async def test_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics/prometheus")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE tidegate_actions_dispatched_total counter" in response.text
    assert 'tidegate_action_outcomes_total{outcome="circuit_open"}' in response.text
