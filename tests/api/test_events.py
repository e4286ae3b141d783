"""``/v1/events`` (api.md §6) on a real server: list filters and order, one event, REST transitions, and
the stream's order for a dispatch and for a timeout (stream.md §1.8). A manual clock drives the timers,
which the real timer loop polls every 0.1 s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import running_server, serving
from tests.state_machines.support import TIMEOUT_SECONDS, alert_action, machine_settings
from tests.stream_http._client import subscribe
from tidegate.clock import ManualClock

from .auth_support import Identity, auth_settings, bearer

BACKGROUND = {"poll_interval_seconds": 0.1}


@pytest.fixture(scope="module")
def server(server_dir: Path, clock: ManualClock) -> Iterator[str]:
    with serving(machine_settings(server_dir, background=BACKGROUND), clock=clock) as url:
        yield url


def ticket(fingerprint: str, tenant: str = "tenant-1", **extra: object) -> dict[str, object]:
    return {**alert_action(fingerprint, tenant=tenant, action_type="ticket", namespace="desk"), **extra}


async def dispatch(client: httpx.AsyncClient, body: dict[str, object]) -> dict[str, object]:
    response = await client.post("/v1/dispatch", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


async def test_a_dispatch_answers_state_changed(client: httpx.AsyncClient) -> None:
    first = await dispatch(client, alert_action("answer"))
    assert list(first) == [
        "action_id",
        "outcome",
        "fingerprint",
        "previous_state",
        "new_state",
        "notify",
        "transition_allowed",
    ]
    assert first["outcome"] == "state_changed"
    second = await dispatch(client, alert_action("answer", status="acknowledged"))
    assert (
        second["previous_state"],
        second["new_state"],
        second["notify"],
        second["transition_allowed"],
    ) == (
        "firing",
        "acknowledged",
        False,
        True,
    )
    refused = await dispatch(client, alert_action("answer", status="stale"))
    assert (refused["new_state"], refused["transition_allowed"]) == ("acknowledged", False)


async def test_no_fingerprint_is_a_bad_request_that_leaves_no_trace(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).json()["dispatched"]
    response = await client.post("/v1/dispatch", json=alert_action(None, tenant="nofp"))
    assert_error(response, 400, "bad_request", "fingerprint required")
    assert (await client.get("/metrics")).json()["dispatched"] == before
    assert (await client.get("/v1/audit", params={"tenant": "nofp"})).json()["total"] == 0
    assert (await client.get("/v1/events", params={"tenant": "nofp"})).json()["total"] == 0


async def test_lists_last_updated_first_with_filters(client: httpx.AsyncClient, clock: ManualClock) -> None:
    for fingerprint, tenant in (("t-b", "acme"), ("t-a", "acme"), ("t-c", "globex")):
        await dispatch(client, ticket(fingerprint, tenant))
    clock.advance(0.25)
    await dispatch(client, ticket("t-b", "acme", status="closed"))
    body = (await client.get("/v1/events", params={"namespace": "desk"})).json()
    assert list(body) == ["events", "count", "total", "limit", "offset"]
    assert [e["fingerprint"] for e in body["events"]] == ["t-b", "t-a", "t-c"]  # then fingerprint ascending
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (3, 3, 100, 0)
    assert body["events"][0] == {
        "fingerprint": "t-b",
        "namespace": "desk",
        "tenant": "acme",
        "state_machine": "ticket",
        "state": "closed",
        "action_type": "ticket",
        "updated_at": body["events"][0]["updated_at"],
        "timeout_at": None,
    }

    async def fingerprints(**params: str | int) -> list[str]:
        response = await client.get("/v1/events", params={"namespace": "desk", **params})
        assert response.status_code == 200, response.text
        return [event["fingerprint"] for event in response.json()["events"]]

    assert await fingerprints(status="open") == ["t-a", "t-c"]
    assert await fingerprints(tenant="acme") == ["t-b", "t-a"]
    assert await fingerprints(tenant="globex", status="closed") == []
    assert await fingerprints(state_machine="alert") == []
    assert await fingerprints(limit=1, offset=1) == ["t-a"]
    page = (await client.get("/v1/events", params={"tenant": "acme", "limit": 1})).json()
    assert (page["count"], page["total"]) == (1, 2)  # a tenant without a namespace filters every namespace
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        assert_error(await client.get("/v1/events", params=bad), 422, "validation_error")


async def test_one_event_needs_its_namespace_and_tenant(client: httpx.AsyncClient) -> None:
    await dispatch(client, ticket("one", "acme"))
    found = await client.get("/v1/events/one", params={"namespace": "desk", "tenant": "acme"})
    assert found.status_code == 200
    assert (found.json()["fingerprint"], found.json()["state"]) == ("one", "open")
    assert_error(await client.get("/v1/events/one", params={"namespace": "desk"}), 422, "validation_error")
    other = await client.get("/v1/events/one", params={"namespace": "desk", "tenant": "globex"})
    assert_error(other, 404, "not_found", "event not found: one")


async def test_rest_transitions(client: httpx.AsyncClient) -> None:
    await dispatch(client, ticket("rest", "acme"))
    where = {"namespace": "desk", "tenant": "acme"}
    missing = await client.put("/v1/events/nope/transition", json={"to_state": "closed", **where})
    assert_error(missing, 404, "not_found", "event not found: nope")
    refused = await client.put("/v1/events/rest/transition", json={"to_state": "reopened", **where})
    assert_error(refused, 409, "invalid_transition", "transition from 'open' to 'reopened' is not allowed")
    same = await client.put("/v1/events/rest/transition", json={"to": "open", **where})
    assert same.json() == {
        "fingerprint": "rest",
        "namespace": "desk",
        "tenant": "acme",
        "state_machine": "ticket",
        "previous_state": "open",
        "new_state": "open",
        "notify": False,
    }
    both = await client.put("/v1/events/rest/transition", json={"to": "closed", "to_state": "open", **where})
    assert_error(both, 422, "validation_error")
    assert_error(await client.put("/v1/events/rest/transition", json=where), 422, "validation_error")
    no_tenant = await client.put(
        "/v1/events/rest/transition", json={"to_state": "closed", "namespace": "desk"}
    )
    body = assert_error(no_tenant, 422, "validation_error")
    assert body["detail"] == [{"loc": ["body", "tenant"], "msg": "Field required", "type": "missing"}]
    moved = await client.put("/v1/events/rest/transition", params=where, json={"to_state": "closed"})
    assert (moved.status_code, moved.json()["new_state"]) == (200, "closed")  # the query as fallback
    state = await client.get("/v1/events/rest", params=where)
    assert state.json()["state"] == "closed"
    json_type = {"Content-Type": "application/json"}
    garbled = await client.put("/v1/events/rest/transition", content=b"{", headers=json_type)
    assert_error(garbled, 400, "invalid_json")
    assert_error(await client.put("/v1/events/rest/transition", content=b"{}"), 415, "unsupported_media_type")


async def test_the_stream_orders_a_dispatch_and_a_timeout(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    async with subscribe(client, {"tenant": "sse"}) as stream:
        created = await dispatch(client, alert_action("sse-fp", tenant="sse"))
        moved = await dispatch(client, alert_action("sse-fp", tenant="sse", status="stale"))  # not allowed
        assert moved["transition_allowed"] is False
        frames = [orjson.loads(sse.data) for sse in await stream.take(2)]
        assert [(f["type"], f["action_id"]) for f in frames] == [
            ("action_dispatched", created["action_id"]),
            ("action_dispatched", moved["action_id"]),
        ]
        clock.advance(TIMEOUT_SECONDS)  # the timer loop fires the firing timeout
        changed, timeout, notification = [orjson.loads(sse.data) for sse in await stream.take(3)]
        assert (changed["type"], changed["previous_status"], changed["new_status"]) == (
            "action_status_changed",
            "firing",
            "stale",
        )
        assert "action_id" not in changed
        assert (timeout["type"], timeout["new_state"], timeout["action_type"]) == (
            "timeout",
            "stale",
            "cpu_alert",
        )
        assert (notification["type"], notification["action_type"]) == (
            "action_dispatched",
            "state_notification",
        )
        back = await dispatch(client, alert_action("sse-fp", tenant="sse", status="firing"))
        changed, dispatched = [orjson.loads(sse.data) for sse in await stream.take(2)]
        assert (changed["type"], changed["action_id"]) == ("action_status_changed", back["action_id"])
        assert (dispatched["type"], dispatched["action_id"]) == ("action_dispatched", back["action_id"])
    state = (
        await client.get("/v1/events/sse-fp", params={"namespace": "monitoring", "tenant": "sse"})
    ).json()
    assert state["state"] == "firing"
    assert state["timeout_at"] is not None


async def test_lists_and_reads_only_what_the_grants_cover(tmp_path: Path) -> None:
    identities = [
        Identity("root", "admin", key="tg_root-key"),
        Identity("acme-ops", "operator", grants=[{"tenants": ["acme"]}], key="tg_acme-key"),
    ]
    settings = auth_settings(tmp_path, identities, state_machines=machine_settings(tmp_path).state_machines)
    async with running_server(settings) as url, httpx.AsyncClient(base_url=url, timeout=10.0) as http:
        root, acme = bearer("tg_root-key"), bearer("tg_acme-key")
        for fingerprint, tenant in (("a1", "acme"), ("g1", "globex")):
            response = await http.post("/v1/dispatch", json=ticket(fingerprint, tenant), headers=root)
            assert response.status_code == 200, response.text
        listed = (await http.get("/v1/events", headers=acme)).json()
        assert ([e["fingerprint"] for e in listed["events"]], listed["total"]) == (["a1"], 1)
        assert_error(
            await http.get("/v1/events", params={"tenant": "globex"}, headers=acme), 403, "forbidden"
        )
        hidden = await http.get(
            "/v1/events/g1", params={"namespace": "desk", "tenant": "globex"}, headers=acme
        )
        assert_error(hidden, 404, "not_found", "event not found: g1")
        where = {"namespace": "desk", "tenant": "globex"}
        moved = await http.put("/v1/events/g1/transition", json={"to_state": "closed", **where}, headers=acme)
        assert_error(moved, 404, "not_found", "event not found: g1")
        assert (await http.get("/v1/events", headers=root)).json()["total"] == 2
