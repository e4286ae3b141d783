"""``POST /v1/dispatch`` over a real server with the embedded default (log provider, SQLite audit)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.helpers.errors import assert_error
from tidegate.errors import BackendUnavailable, RateLimited
from tidegate.model.action import Action
from tidegate.model.caller import Caller
from tidegate.pipeline.gateway import Gateway
from tidegate.pipeline.result import DispatchResult

from .conftest import ACTION

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_executes_on_the_log_provider(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch", json={**ACTION, "id": "act-1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body)[:2] == ["action_id", "outcome"]
    assert body["action_id"] == "act-1"
    assert body["outcome"] == "executed"
    assert body["response"]["status"] == "success"
    assert "x-audit-status" not in response.headers
    record = (await client.get("/v1/audit/act-1")).json()
    assert (record["outcome"], record["caller_id"], record["auth_method"]) == (
        "executed",
        "anonymous",
        "anonymous",
    )


async def test_server_assigns_a_uuid7_id_when_none_is_sent(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/dispatch", json=ACTION)).json()
    assert len(body["action_id"]) == 36
    assert body["action_id"][14] == "7"


async def test_rule_verdict_is_applied(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/dispatch", json={**ACTION, "action_type": "spam"})).json()
    assert body["outcome"] == "suppressed"
    assert body["rule"] == "block-spam"


@pytest.mark.parametrize("value", ["true", "1", "YES", "On"])
async def test_dry_run_evaluates_without_effects(client: httpx.AsyncClient, value: str) -> None:
    before = (await client.get("/metrics")).json()
    response = await client.post(f"/v1/dispatch?dry_run={value}", json={**ACTION, "id": f"dry-{value}"})
    body = response.json()
    assert body == {
        "action_id": f"dry-{value}",
        "outcome": "dry_run",
        "verdict": "allow",
        "matched_rule": None,
        "would_be_provider": "log",
    }
    after = (await client.get("/metrics")).json()
    assert after["dry_run"] == before["dry_run"] + 1
    assert after["dispatched"] == before["dispatched"]
    assert_error(await client.get(f"/v1/audit/dry-{value}"), 404, "not_found")


@pytest.mark.parametrize("value", ["false", "0", "no", "OFF"])
async def test_dry_run_false_words_dispatch(client: httpx.AsyncClient, value: str) -> None:
    body = (await client.post(f"/v1/dispatch?dry_run={value}", json=ACTION)).json()
    assert body["outcome"] == "executed"


@pytest.mark.parametrize("value", ["t", "y", "2", "", "truthy"])
async def test_dry_run_other_values_are_422(client: httpx.AsyncClient, value: str) -> None:
    body = assert_error(
        await client.post(f"/v1/dispatch?dry_run={value}", json=ACTION), 422, "validation_error"
    )
    assert body["detail"][0]["loc"] == ["query", "dry_run"]


async def test_unknown_provider_is_404_with_the_exact_message(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).json()
    response = await client.post("/v1/dispatch", json={**ACTION, "provider": "sms", "id": "no-sms"})
    assert_error(response, 404, "provider_not_found", "Provider not found: sms")
    assert (await client.get("/metrics")).json() == before
    assert_error(await client.get("/v1/audit/no-sms"), 404, "not_found")


async def test_unknown_provider_in_dry_run_is_404_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch?dry_run=true", json={**ACTION, "provider": "sms"})
    assert_error(response, 404, "provider_not_found", "Provider not found: sms")


async def test_traceparent_is_stored_on_the_audit_record(client: httpx.AsyncClient) -> None:
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=x"}
    body = {**ACTION, "id": "traced", "trace_context": {"traceparent": "ignored"}}
    assert (await client.post("/v1/dispatch", json=body, headers=headers)).status_code == 200
    record = (await client.get("/v1/audit/traced")).json()
    assert record["trace_context"] == {"traceparent": TRACEPARENT, "tracestate": "vendor=x"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"tracestate": "vendor=x"},
        {"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01", "tracestate": "a=b"},
        {"traceparent": "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {"traceparent": "garbage"},
    ],
)
async def test_no_valid_traceparent_stores_an_empty_trace_context(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    action_id = f"untraced-{uuid.uuid4().hex}"
    body = {**ACTION, "id": action_id, "trace_context": {"traceparent": TRACEPARENT}}
    assert (await client.post("/v1/dispatch", json=body, headers=headers)).status_code == 200
    assert (await client.get(f"/v1/audit/{action_id}")).json()["trace_context"] == {}


async def test_counters_move_once_per_dispatch(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).json()
    await client.post("/v1/dispatch", json=ACTION)
    after = (await client.get("/metrics")).json()
    assert after["dispatched"] == before["dispatched"] + 1
    assert after["executed"] == before["executed"] + 1


async def test_unknown_body_keys_are_ignored(client: httpx.AsyncClient) -> None:
    body = {**ACTION, "template": "welcome", "attachments": [], "surprise": {"x": 1}}
    assert (await client.post("/v1/dispatch", json=body)).status_code == 200


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"namespace": "has space"}, ["body", "namespace"]),
        ({"tenant": ""}, ["body", "tenant"]),
        ({"metadata": {"priority": 1}}, ["body", "metadata"]),
        ({"starts_at": "2026-01-15T10:00:00"}, ["body", "starts_at"]),
    ],
)
async def test_schema_violations_name_the_field(
    client: httpx.AsyncClient, change: dict[str, object], loc: list[str]
) -> None:
    body = assert_error(await client.post("/v1/dispatch", json={**ACTION, **change}), 422, "validation_error")
    assert body["detail"][0]["loc"] == loc


async def test_payload_key_must_be_present_but_may_be_null(client: httpx.AsyncClient) -> None:
    without = {k: v for k, v in ACTION.items() if k != "payload"}
    assert_error(await client.post("/v1/dispatch", json=without), 422, "validation_error")
    assert (await client.post("/v1/dispatch", json={**ACTION, "payload": None})).status_code == 200


async def test_body_must_be_an_object(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.post("/v1/dispatch", json=[ACTION]), 422, "validation_error")
    assert body["detail"][0]["loc"] == ["body"]


# --- what the gateway reports or raises, over HTTP ----------------------------------------------------


def _patch_dispatch(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[DispatchResult], DispatchResult]
) -> None:
    original = Gateway.dispatch

    async def patched(self: Gateway, action: Action, caller: Caller, **options: Any) -> DispatchResult:
        return change(await original(self, action, caller, **options))

    monkeypatch.setattr(Gateway, "dispatch", patched)


def _raise_from_dispatch(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    async def failing(self: Gateway, action: Action, caller: Caller, **options: Any) -> DispatchResult:
        raise error

    monkeypatch.setattr(Gateway, "dispatch", failing)


async def test_spooled_audit_is_reported_in_a_header(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patch_dispatch(monkeypatch, lambda result: dataclasses.replace(result, audit_spooled=True))
    single = await client.post("/v1/dispatch", json=ACTION)
    batch = await client.post("/v1/dispatch/batch", json=[ACTION])
    assert single.headers["x-audit-status"] == "spooled"
    assert batch.headers["x-audit-status"] == "spooled"
    assert single.json()["outcome"] == "executed"


async def test_backend_unavailable_is_503_retryable(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _raise_from_dispatch(monkeypatch, BackendUnavailable("state store unreachable"))
    response = await client.post("/v1/dispatch", json=ACTION)
    assert_error(response, 503, "backend_unavailable", "state store unreachable", retryable=True)
    item = (await client.post("/v1/dispatch/batch", json=[ACTION])).json()["results"][0]
    assert item == {
        "status": "error",
        "error": {"code": "backend_unavailable", "message": "state store unreachable", "retryable": True},
    }


async def test_rate_limited_is_429_with_retry_after(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _raise_from_dispatch(monkeypatch, RateLimited("too many dispatches in flight", retry_after=3))
    response = await client.post("/v1/dispatch", json=ACTION)
    assert_error(response, 429, "rate_limited", "too many dispatches in flight", retryable=True)
    assert response.headers["retry-after"] == "3"


async def test_a_bug_is_a_generic_500_and_a_batch_item_error(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _raise_from_dispatch(monkeypatch, KeyError("internal detail"))
    response = await client.post("/v1/dispatch", json=ACTION, headers={"x-request-id": "bug-1"})
    body = assert_error(response, 500, "internal_error", "internal error")
    assert body["correlation_id"] == "bug-1"
    assert "internal detail" not in response.text
    item = (await client.post("/v1/dispatch/batch", json=[ACTION])).json()["results"][0]
    assert item == {
        "status": "error",
        "error": {"code": "internal_error", "message": "internal error", "retryable": False},
    }


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_timestamp_outside_the_utc_range_is_422(client: httpx.AsyncClient, when: str) -> None:
    body = assert_error(
        await client.post("/v1/dispatch", json={**ACTION, "created_at": when}), 422, "validation_error"
    )
    assert body["detail"][0]["loc"] == ["body", "created_at"]
