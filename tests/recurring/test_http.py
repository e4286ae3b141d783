"""The recurring endpoints (api.md §12) on a real server with SQLite state, and a fire driven by the
ManualClock through the running timer loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tests.recurring.support import START
from tidegate.clock import ManualClock

WHERE = {"namespace": "reports", "tenant": "tenant-1"}
SEED_BODY = {
    **WHERE,
    "provider": "log",
    "action_type": "daily_report",
    "cron_expression": "0 9 * * MON-FRI",  # the seed's field name
    "timezone": "US/Eastern",
    "payload": {"report": "sales"},
    "metadata": {"team": "ops"},
}


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    settings = make_settings(
        tmp_path_factory.mktemp("recurring"),
        recurring={"max_per_tenant": 4},
        background={"poll_interval_seconds": 0.1},
    )
    with serving(settings, clock=clock) as url:
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server) as client:
        yield client
        for action in (await client.get("/v1/recurring", params=WHERE)).json()["recurring_actions"]:
            await client.delete(f"/v1/recurring/{action['recurring_id']}", params=WHERE)


async def create(client: httpx.AsyncClient, **changes: object) -> dict[str, object]:
    response = await client.post("/v1/recurring", json={**SEED_BODY, **changes})
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


async def test_create_answers_the_seed_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/recurring", json=SEED_BODY)
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == ["recurring_id", "next_execution", "cron_expr", "timezone", "enabled"]
    assert body["next_execution"] == "2026-02-10T14:00:00.000000Z"  # 09:00 EST
    assert (body["cron_expr"], body["timezone"], body["enabled"]) == ("0 9 * * MON-FRI", "US/Eastern", True)
    assert response.headers["location"] == f"/v1/recurring/{body['recurring_id']}"
    full = (await client.get(response.headers["location"], params=WHERE)).json()
    assert full["payload"] == {"report": "sales"} and full["execution_count"] == 0
    assert full["metadata"] == {"team": "ops"} and full["last_executed_at"] is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"cron_expression": "* * * * * *"}, "invalid_cron"),
        ({"cron_expression": "@reboot"}, "invalid_cron"),
        ({"cron_expression": "0 0 30 2 *"}, "invalid_cron"),
        ({"timezone": "Mars/Olympus"}, "invalid_timezone"),
    ],
)
async def test_create_rejects_bad_schedules(
    client: httpx.AsyncClient, changes: dict[str, object], code: str
) -> None:
    assert_error(await client.post("/v1/recurring", json={**SEED_BODY, **changes}), 400, code)


@pytest.mark.parametrize(
    "body",
    [
        {key: value for key, value in SEED_BODY.items() if key != "cron_expression"},
        {**SEED_BODY, "cron_expr": "0 10 * * *"},  # differs from its alias
        {**SEED_BODY, "max_executions": 0},
        {**SEED_BODY, "tenant": ""},
    ],
)
async def test_create_schema_errors_are_400_with_the_issue_list(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/v1/recurring", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "validation_error" and isinstance(error["detail"], list)


async def test_unknown_provider_and_the_tenant_cap(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post("/v1/recurring", json={**SEED_BODY, "provider": "nope"}), 404, "provider_not_found"
    )
    for namespace in ("a", "b", "c", "d"):
        await create(client, namespace=namespace)
    assert_error(await client.post("/v1/recurring", json=SEED_BODY), 409, "conflict")
    for namespace in ("a", "b", "c", "d"):
        listed = (await client.get("/v1/recurring", params={**WHERE, "namespace": namespace})).json()
        for action in listed["recurring_actions"]:
            await client.delete(
                f"/v1/recurring/{action['recurring_id']}", params={**WHERE, "namespace": namespace}
            )


async def test_lifecycle(client: httpx.AsyncClient) -> None:
    created = await create(client)
    path = f"/v1/recurring/{created['recurring_id']}"
    assert_error(await client.get(path, params={**WHERE, "tenant": "tenant-2"}), 404, "not_found")
    assert_error(await client.get(path, params={"namespace": "reports"}), 422, "validation_error")
    paused = await client.post(f"{path}/pause", params=WHERE)
    assert paused.status_code == 200, paused.text
    assert (paused.json()["enabled"], paused.json()["next_execution"]) == (False, None)
    again = await client.post(f"{path}/pause", json=WHERE)  # the SDK's placement: the body
    assert_error(again, 409, "conflict", "recurring action is already paused")
    listed = await client.get("/v1/recurring", params={**WHERE, "status": "paused"})
    assert [a["recurring_id"] for a in listed.json()["recurring_actions"]] == [created["recurring_id"]]
    assert (await client.get("/v1/recurring", params={**WHERE, "enabled": "true"})).json()["total"] == 0
    resumed = await client.post(f"{path}/resume", params=WHERE)
    assert resumed.json()["next_execution"] == created["next_execution"]
    assert_error(await client.post(f"{path}/resume", params=WHERE), 409, "conflict")
    moved = await client.put(
        path, params=WHERE, json={"cron_expr": "30 2 * * *", "timezone": "Europe/Berlin"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["next_execution"] == "2026-02-11T01:30:00.000000Z"
    assert_error(await client.put(path, params=WHERE, json={"timezone": "Nowhere"}), 400, "invalid_timezone")
    assert (await client.delete(path, params=WHERE)).status_code == 204
    assert_error(await client.delete(path, params=WHERE), 404, "not_found")


async def test_a_fire_runs_through_the_pipeline(client: httpx.AsyncClient, clock: ManualClock) -> None:
    created = await create(client, cron_expression="* * * * *", timezone="UTC", action_type="minutely")
    clock.advance(60)
    deadline = time.monotonic() + 10
    while True:
        records = (await client.get("/v1/audit", params={"action_type": "minutely"})).json()["records"]
        if records:
            break
        assert time.monotonic() < deadline, "the due fire did not run"
        await asyncio.sleep(0.05)
    [record] = records
    assert record["metadata"]["recurring_id"] == created["recurring_id"]
    assert record["caller_id"] == "system"
    after = (await client.get(f"/v1/recurring/{created['recurring_id']}", params=WHERE)).json()
    assert after["execution_count"] == 1
