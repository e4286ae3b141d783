"""``POST /v1/dispatch/batch`` (api.md §3.4): shapes, per-item errors, order, limits, bounded concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.api.batch import run_bounded
from tidegate.model.action import Action
from tidegate.model.caller import Caller
from tidegate.pipeline.gateway import Gateway
from tidegate.pipeline.result import DispatchResult

from .conftest import ACTION, make_settings

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_mixed_items_each_succeed_or_fail_on_their_own(client: httpx.AsyncClient) -> None:
    items = [
        {**ACTION, "id": "b-ok"},
        {**ACTION, "provider": "sms"},
        {k: v for k, v in ACTION.items() if k != "namespace"},
        "not an object",
        {**ACTION, "action_type": "spam", "id": "b-spam"},
    ]
    response = await client.post("/v1/dispatch/batch", json={"actions": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["success", "error", "error", "error", "success"]
    assert results[0]["outcome"]["action_id"] == "b-ok"
    assert results[0]["outcome"]["outcome"] == "executed"
    assert results[1]["error"] == {
        "code": "provider_not_found",
        "message": "Provider not found: sms",
        "retryable": False,
    }
    assert results[2]["error"] == {
        "code": "validation_error",
        "message": "namespace: Field required",
        "retryable": False,
    }
    assert results[3]["error"]["code"] == "validation_error"
    assert results[4]["outcome"] == {"action_id": "b-spam", "outcome": "suppressed", "rule": "block-spam"}
    assert list(results[1]) == ["status", "error"]
    assert (await client.get("/v1/audit/b-ok")).json()["outcome"] == "executed"


async def test_bare_array_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch/batch", json=[ACTION, ACTION])
    assert [r["status"] for r in response.json()["results"]] == ["success", "success"]


@pytest.mark.parametrize("body", [[], {"actions": []}])
async def test_empty_batch_is_200_with_no_results(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/v1/dispatch/batch", json=body)
    assert (response.status_code, response.json()) == (200, {"results": []})


async def test_more_than_1000_actions_is_413_with_the_exact_message(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch/batch", json=[{}] * 1001)
    assert_error(response, 413, "payload_too_large", "batch size 1001 exceeds maximum of 1000")


async def test_exactly_1000_actions_are_processed(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch/batch?dry_run=true", json=[ACTION] * 1000)
    results = response.json()["results"]
    assert len(results) == 1000
    assert {r["outcome"]["outcome"] for r in results} == {"dry_run"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"action": []}, ["body", "actions"]),
        ({"actions": {}}, ["body", "actions"]),
        ("actions", ["body"]),
        (42, ["body"]),
    ],
)
async def test_other_top_levels_are_422(client: httpx.AsyncClient, body: object, loc: list[str]) -> None:
    error = assert_error(await client.post("/v1/dispatch/batch", json=body), 422, "validation_error")
    assert error["detail"][0]["loc"] == loc


async def test_dry_run_applies_to_every_item(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).json()
    response = await client.post(
        "/v1/dispatch/batch?dry_run=yes", json=[ACTION, {**ACTION, "action_type": "spam"}]
    )
    outcomes = [r["outcome"] for r in response.json()["results"]]
    assert [(o["outcome"], o["verdict"], o["matched_rule"]) for o in outcomes] == [
        ("dry_run", "allow", None),
        ("dry_run", "suppress", "block-spam"),
    ]
    after = (await client.get("/metrics")).json()
    assert (after["dry_run"], after["dispatched"]) == (before["dry_run"] + 2, before["dispatched"])


async def test_item_over_the_single_body_limit_is_payload_too_large(client: httpx.AsyncClient) -> None:
    big = {**ACTION, "payload": "x" * (1024 * 1024)}
    response = await client.post(
        "/v1/dispatch/batch",
        content=orjson.dumps([big, ACTION]),
        headers={"content-type": "application/json"},
    )
    results = response.json()["results"]
    assert results[0] == {
        "status": "error",
        "error": {
            "code": "payload_too_large",
            "message": "action exceeds the limit of 1048576 bytes",
            "retryable": False,
        },
    }
    assert results[1]["status"] == "success"


async def test_too_deep_item_fails_alone(client: httpx.AsyncClient) -> None:
    payload: object = 1
    for _ in range(70):
        payload = [payload]
    response = await client.post("/v1/dispatch/batch", json=[{**ACTION, "payload": payload}, ACTION])
    results = response.json()["results"]
    assert results[0]["error"]["code"] == "validation_error"
    assert results[1]["status"] == "success"


async def test_each_item_gets_the_trace_context(client: httpx.AsyncClient) -> None:
    items = [{**ACTION, "id": "bt-1"}, {**ACTION, "id": "bt-2"}]
    await client.post("/v1/dispatch/batch", json=items, headers={"traceparent": TRACEPARENT})
    for action_id in ("bt-1", "bt-2"):
        record = (await client.get(f"/v1/audit/{action_id}")).json()
        assert record["trace_context"] == {"traceparent": TRACEPARENT}


async def test_batch_body_errors(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post("/v1/dispatch/batch", content=b"[", headers={"content-type": "application/json"}),
        400,
        "invalid_json",
    )
    assert_error(await client.post("/v1/dispatch/batch", content=b"[]"), 415, "unsupported_media_type")
    assert_error(await client.post("/v1/dispatch/batch?dry_run=maybe", json=[]), 422, "validation_error")


async def test_run_bounded_keeps_order_and_the_limit() -> None:
    running = peak = 0

    async def run(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        return item * 10

    assert await run_bounded(list(range(20)), run, 3) == [i * 10 for i in range(20)]
    assert peak == 3
    assert await run_bounded([], run, 3) == []


@pytest.fixture(scope="module")
def narrow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(make_settings(tmp_path_factory.mktemp("narrow"), server={"batch_concurrency": 3})) as url:
        yield url


async def test_items_run_concurrently_up_to_batch_concurrency(
    narrow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Gateway.dispatch
    running = peak = 0

    async def observed(self: Gateway, action: Action, caller: Caller, **options: Any) -> DispatchResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(0.005)  # hold the slot so the other workers start theirs
            return await original(self, action, caller, **options)
        finally:
            running -= 1

    monkeypatch.setattr(Gateway, "dispatch", observed)
    items = [{**ACTION, "id": f"c{index}"} for index in range(12)]
    async with httpx.AsyncClient(base_url=narrow_server) as http:
        results = (await http.post("/v1/dispatch/batch", json=items)).json()["results"]
    assert [r["outcome"]["action_id"] for r in results] == [f"c{index}" for index in range(12)]
    assert peak == 3
