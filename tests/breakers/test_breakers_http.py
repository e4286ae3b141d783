"""Circuit breakers on a real server (api.md §11, features.md §10): a loopback webhook target that fails
on demand, the admin endpoints, and the outcomes a caller sees."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.api.conftest import make_settings
from tests.helpers.errors import assert_error
from tests.helpers.server import ServerThread, running_server
from tidegate.clock import ManualClock


@dataclass
class Target:
    """The remote webhook endpoint: answers ``status`` and counts requests."""

    url: str = ""
    status: int = 503
    received: int = 0

    async def handle(self, request: Request) -> Response:
        await request.body()
        self.received += 1
        if self.status >= 300:
            return Response(status_code=self.status)
        return JSONResponse({"ok": True})


@pytest.fixture
def target() -> Iterator[Target]:
    remote = Target()
    server = ServerThread(Starlette(routes=[Route("/hook", remote.handle, methods=["POST"])]))
    remote.url = server.start() + "/hook"
    try:
        yield remote
    finally:
        server.stop()


BREAKERS = {
    "enabled": True,
    "failure_threshold": 2,
    "success_threshold": 1,
    "recovery_timeout_seconds": 60,
    "providers": {"webhook": {"fallback_provider": "log"}},
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(tmp_path: Path, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, circuit_breaker=BREAKERS, executor={"max_retries": 0})
    async with running_server(settings, clock=clock) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


def hook_action(target: Target) -> dict[str, object]:
    return {
        "namespace": "notifications",
        "tenant": "tenant-1",
        "provider": "webhook",
        "action_type": "notify",
        "payload": {},
        "metadata": {"webhook_url": target.url},
    }


async def states(client: httpx.AsyncClient) -> dict[str, tuple[str, int, bool]]:
    response = await client.get("/admin/circuit-breakers")
    assert response.status_code == 200, response.text
    entries = response.json()["circuit_breakers"]
    return {e["provider"]: (e["state"], e["consecutive_failures"], e["forced"]) for e in entries}


async def outcome(client: httpx.AsyncClient, target: Target) -> dict[str, object]:
    response = await client.post("/v1/dispatch", json=hook_action(target))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_the_list_shows_every_provider_with_its_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/circuit-breakers")
    assert response.json() == {
        "circuit_breakers": [
            {
                "provider": name,
                "state": "closed",
                "failure_threshold": 2,
                "success_threshold": 1,
                "recovery_timeout_seconds": 60,
                "fallback_provider": fallback,
                "consecutive_failures": 0,
                "forced": False,
            }
            for name, fallback in (("log", None), ("webhook", "log"))
        ]
    }


async def test_a_failing_webhook_opens_falls_back_half_opens_and_closes(
    client: httpx.AsyncClient, target: Target, clock: ManualClock
) -> None:
    for _ in range(2):
        assert (await outcome(client, target))["outcome"] == "failed"
    assert (await states(client))["webhook"] == ("open", 2, False)
    rerouted = await outcome(client, target)
    assert {k: rerouted[k] for k in ("outcome", "original_provider", "new_provider")} == {
        "outcome": "rerouted",
        "original_provider": "webhook",
        "new_provider": "log",
    }
    assert target.received == 2
    clock.advance(60)
    assert (await states(client))["webhook"] == ("half_open", 2, False)
    target.status = 200
    assert (await outcome(client, target))["outcome"] == "executed"
    assert target.received == 3
    assert (await states(client))["webhook"] == ("closed", 0, False)


async def test_trip_forces_open_until_reset(
    client: httpx.AsyncClient, target: Target, clock: ManualClock
) -> None:
    target.status = 200
    tripped = await client.post("/admin/circuit-breakers/webhook/trip")
    assert tripped.json() == {"provider": "webhook", "state": "open", "message": "circuit breaker tripped"}
    assert (await client.post("/admin/circuit-breakers/webhook/trip")).status_code == 200  # idempotent
    clock.advance(3600)
    assert (await states(client))["webhook"] == ("open", 0, True)
    assert (await outcome(client, target))["outcome"] == "rerouted"
    await client.post("/admin/circuit-breakers/log/trip")
    body = await outcome(client, target)
    assert (body["outcome"], body["provider"], body["fallback_chain"]) == ("circuit_open", "webhook", ["log"])
    assert target.received == 0
    for name in ("webhook", "log"):
        reset = await client.post(f"/admin/circuit-breakers/{name}/reset")
        assert reset.json() == {"provider": name, "state": "closed", "message": "circuit breaker reset"}
    assert (await outcome(client, target))["outcome"] == "executed"
    assert target.received == 1


async def test_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    for verb in ("trip", "reset"):
        response = await client.post(f"/admin/circuit-breakers/nope/{verb}")
        assert_error(response, 404, "not_found", "circuit breaker not found: nope")


async def test_every_endpoint_is_404_when_breakers_are_disabled(tmp_path: Path) -> None:
    async with running_server(make_settings(tmp_path)) as url, httpx.AsyncClient(base_url=url) as http:
        for method, path in (
            ("GET", "/admin/circuit-breakers"),
            ("POST", "/admin/circuit-breakers/log/trip"),
            ("POST", "/admin/circuit-breakers/log/reset"),
        ):
            response = await http.request(method, path)
            assert_error(response, 404, "feature_disabled", "circuit breakers are disabled")


async def test_a_trip_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, circuit_breaker=BREAKERS)
    assert settings.state.backend == "sqlite"
    async with running_server(settings) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/admin/circuit-breakers/webhook/trip")).status_code == 200
    async with running_server(settings) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await states(http))["webhook"] == ("open", 0, True)


async def test_prometheus_shows_the_breaker_states(client: httpx.AsyncClient, tmp_path: Path) -> None:
    await client.post("/admin/circuit-breakers/webhook/trip")
    text = (await client.get("/metrics/prometheus")).text
    assert 'tidegate_circuit_breaker_state{provider="webhook"} 2.0' in text
    assert 'tidegate_circuit_breaker_state{provider="log"} 0.0' in text
    await client.post("/admin/circuit-breakers/webhook/reset")
    text = (await client.get("/metrics/prometheus")).text
    assert 'tidegate_circuit_breaker_state{provider="webhook"} 0.0' in text
    settings = make_settings(tmp_path / "off")
    async with running_server(settings) as url, httpx.AsyncClient(base_url=url) as http:
        assert "tidegate_circuit_breaker_state" not in (await http.get("/metrics/prometheus")).text
