"""Task chains on a real server (features.md §16, api.md §9): steps against loopback webhook targets,
templates, retries, abort and skip, branches, delay, timeout, cancel, /v1/stream events, every endpoint's
answers and 4xx paths, with authentication on (grants, roles, G3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.api.auth_support import Identity, auth_settings
from tests.chains._target import Target
from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tests.stream_http._client import subscribe
from tidegate.model.time import parse_ts

ADMIN = {"X-API-Key": "tg_admin-key"}
OPS = {"X-API-Key": "tg_ops-key"}  # operator, tenant acme
VIEWER = {"X-API-Key": "tg_viewer-key"}  # viewer, tenant acme
OUTSIDER = {"X-API-Key": "tg_outsider-key"}  # operator, tenant other
IDENTITIES = [
    Identity("root", "admin", key="tg_admin-key"),
    Identity("ops", "operator", grants=[{"tenants": ["acme"]}], key="tg_ops-key"),
    Identity("watcher", "viewer", grants=[{"tenants": ["acme"]}], key="tg_viewer-key"),
    Identity("outsider", "operator", grants=[{"tenants": ["other"]}], key="tg_outsider-key"),
]
CHAIN_EVENTS = frozenset({"chain_advanced", "chain_step_completed", "chain_completed"})
PROVIDERS = ["search", "summarize", "email", "flaky", "broken", "slow", "after", "small", "big", "done"]


def step(name: str, provider: str | None = None, **extra: object) -> dict[str, object]:
    return {"name": name, "provider": provider or name, "action_type": f"do_{name}", **extra}


CHAINS: list[dict[str, object]] = [
    {
        "name": "pipeline",
        "steps": [
            step("search", payload_template={"q": "{{ origin.payload.query }}", "chain": "{{chain_name}}"}),
            step(
                "summarize",
                payload_template={"text": "{{prev.body.results}}", "n": "{{steps.search.body.count}}"},
            ),
            step(
                "email",
                payload_template={"msg": "found {{steps.search.body.count}}: {{ prev.body.summary }}"},
            ),
        ],
    },
    {
        "name": "flaky",
        "steps": [
            step(
                "flaky",
                retry={"max_retries": 3, "backoff_seconds": 0.1, "multiplier": 3, "max_backoff_seconds": 0.2},
            )
        ],
    },
    {"name": "aborting", "steps": [step("broken"), step("after")]},
    {
        "name": "skipping",
        "steps": [step("broken", on_failure="skip"), step("after", payload_template="{{prev.status}}")],
    },
    {
        "name": "branching",
        "steps": [
            step(
                "check",
                "search",
                default_next="small",
                branches=[{"field": "body.count", "operator": "gte", "value": 3, "target": "big"}],
            ),
            step("small", default_next="done"),
            step("big"),
            step("done"),
        ],
    },
    {"name": "delayed", "steps": [step("after", delay_seconds=1)]},
    {"name": "slowpoke", "timeout_seconds": 1, "steps": [step("slow"), step("after")]},
    {"name": "cancellable", "steps": [step("slow"), step("after")]},
]

RULES = "rules:\n" + "".join(
    f"  - name: start-{c['name']}\n    condition: {{field: action.action_type, eq: run_{c['name']}}}\n"
    f"    action: {{type: chain, chain: {c['name']}}}\n"
    for c in CHAINS
)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    remote = Target().start()
    try:
        yield remote
    finally:
        remote.stop()


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chains")


@pytest.fixture(scope="module")
def server(directory: Path, target: Target) -> Iterator[str]:
    (directory / "rules").mkdir()
    (directory / "rules" / "chains.yaml").write_text(RULES)
    providers = [{"name": "log", "type": "log"}] + [
        {"name": name, "type": "webhook", "url": target.url(f"/{name}")} for name in PROVIDERS
    ]
    settings = auth_settings(
        directory,
        IDENTITIES,
        providers=providers,
        chains={"definitions": CHAINS},
        background={"poll_interval_seconds": 0.1, "lease_seconds": 5},
        executor={"max_retries": 5, "timeout_seconds": 10},
    )
    with serving(settings) as url:
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, headers=ADMIN, timeout=10.0) as http:
        yield http


def origin(kind: str, **payload: object) -> dict[str, object]:
    return {
        "namespace": "research",
        "tenant": "acme",
        "provider": "log",
        "action_type": f"run_{kind}",
        "payload": payload,
        "metadata": {"team": "ops"},
    }


async def start(client: httpx.AsyncClient, kind: str, **payload: object) -> dict[str, Any]:
    response = await client.post("/v1/dispatch", json=origin(kind, **payload))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["outcome"] == "chain_started", body
    return body


async def settled(client: httpx.AsyncClient, chain_id: str, within: float = 15.0) -> dict[str, Any]:
    """The run once terminal (and with no attempt left in flight)."""
    async with asyncio.timeout(within):
        while True:
            detail: dict[str, Any] = (await client.get(f"/v1/chains/{chain_id}")).json()
            if detail["status"] != "running" and all(s["status"] != "running" for s in detail["steps"]):
                return detail
            await asyncio.sleep(0.05)


async def history(client: httpx.AsyncClient, chain_id: str, **params: object) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/executions/{chain_id}/history", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def types(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["type"] for entry in entries]


async def test_three_steps_feed_each_other_and_stream_every_step(
    client: httpx.AsyncClient, target: Target
) -> None:
    target.answer("/search", default=(200, {"count": 3, "results": ["r1", "r2", "r3"]}, 0.0))
    target.answer("/summarize", default=(200, {"summary": "all good"}, 0.0))
    async with subscribe(client, params={"tenant": "acme", "namespace": "research"}) as stream:
        started = await start(client, "pipeline", query="tidegate")
        assert list(started) == [
            "action_id",
            "outcome",
            "chain_id",
            "chain_name",
            "total_steps",
            "first_step",
        ]
        assert (started["chain_name"], started["total_steps"], started["first_step"]) == (
            "pipeline",
            3,
            "search",
        )
        frames = []
        async with asyncio.timeout(15):
            while len(frames) < 9:
                frame = (await stream.take(1))[0]
                if frame.event in CHAIN_EVENTS:
                    frames.append(frame)
    chain_id = started["chain_id"]
    events = [orjson.loads(frame.data) for frame in frames]
    assert all(event["chain_id"] == chain_id for event in events)
    assert [(e["type"], e.get("step_name"), e.get("step_status")) for e in events] == [
        ("chain_advanced", "search", "started"),
        ("chain_advanced", "search", "completed"),
        ("chain_step_completed", "search", None),
        ("chain_advanced", "summarize", "started"),
        ("chain_advanced", "summarize", "completed"),
        ("chain_step_completed", "summarize", None),
        ("chain_advanced", "email", "started"),
        ("chain_advanced", "email", "completed"),
        ("chain_step_completed", "email", None),
    ]
    assert list(events[1]) == [
        "id", "timestamp", "type", "chain_id", "chain_name", "step_name", "step_index", "step_status",
        "attempt", "namespace", "tenant",
    ]  # fmt: skip
    assert events[2]["next_step"] == "summarize" and events[8]["next_step"] is None and events[8]["success"]
    assert list(events[2]) == [
        "id", "timestamp", "type", "chain_id", "step_name", "step_index", "success", "next_step",
        "namespace", "tenant",
    ]  # fmt: skip
    detail = await settled(client, chain_id)
    assert detail["status"] == "completed" and detail["execution_path"] == ["search", "summarize", "email"]
    # templates: step 2 got step 1's response, step 3 both
    search_body = target.received("/search")[-1]
    assert search_body["payload"] == {"q": "tidegate", "chain": "pipeline"}
    assert search_body["metadata"] == {"team": "ops", "chain_id": chain_id, "chain_step": "search"}
    assert (search_body["namespace"], search_body["tenant"], search_body["action_type"]) == (
        "research",
        "acme",
        "do_search",
    )
    assert target.received("/summarize")[-1]["payload"] == {"text": ["r1", "r2", "r3"], "n": 3}
    assert target.received("/email")[-1]["payload"] == {"msg": "found 3: all good"}
    entries = await history(client, chain_id)
    assert types(entries) == [
        "initiated", "processing", "step_start", "step_complete", "step_start", "step_complete", "step_start",
        "step_complete", "completed",
    ]  # fmt: skip
    assert [e["seq"] for e in entries] == list(range(1, 10))
    assert entries[0]["origin_action_id"] == started["action_id"]
    # chain_completed, in order after the last step
    async with subscribe(
        client,
        params={"tenant": "acme", "event_type": "chain_completed", "chain_id": chain_id},
        headers={"Last-Event-ID": frames[-1].id or ""},
    ) as replay:
        completed = orjson.loads((await replay.take(1))[0].data)
    assert completed["chain_id"] == chain_id and completed["status"] == "completed"
    assert completed["execution_path"] == ["search", "summarize", "email"]
    # one audit record per attempt: verdict chain, chain_id, the rule that started it
    audit = (
        await client.get("/v1/audit", params={"tenant": "acme", "chain_id": chain_id, "limit": 50})
    ).json()
    steps = [
        r for r in audit["records"] if r["verdict"] == "chain" and r["action_id"] != started["action_id"]
    ]
    assert len(steps) == 3 and {r["matched_rule"] for r in steps} == {"start-pipeline"}
    assert {r["chain_id"] for r in steps} == {chain_id} and {r["caller_id"] for r in steps} == {"system"}
    assert sorted(r["provider"] for r in steps) == ["email", "search", "summarize"]
    assert {r["outcome"] for r in steps} == {"executed"}
    (start_record,) = [r for r in audit["records"] if r["action_id"] == started["action_id"]]
    assert (start_record["chain_id"], start_record["outcome"]) == (chain_id, "chain_started")


async def test_a_step_that_fails_twice_then_succeeds(client: httpx.AsyncClient, target: Target) -> None:
    target.answer("/flaky", (503, {}, 0.0), (503, {}, 0.0), default=(200, {"ok": True}, 0.0))
    chain_id = (await start(client, "flaky"))["chain_id"]
    detail = await settled(client, chain_id)
    assert detail["status"] == "completed"
    assert detail["steps"][0]["attempts"] == 3 and detail["steps"][0]["response_status"] == "success"
    entries = await history(client, chain_id)
    assert types(entries) == [
        "initiated", "processing", "step_start", "step_retrying", "step_start", "step_retrying", "step_start",
        "step_complete", "completed",
    ]  # fmt: skip
    retries = [e for e in entries if e["type"] == "step_retrying"]
    assert [r["retry_in_ms"] for r in retries] == [100, 200]  # min(0.2, 0.1 * 3^(attempt-1))
    assert [r["attempt"] for r in retries] == [1, 2]
    assert retries[0]["error"] == {
        "code": "execution_failed",
        "message": retries[0]["error"]["message"],
        "retryable": True,
    }
    assert "body" not in retries[0]
    gap = parse_ts(entries[4]["timestamp"]) - parse_ts(entries[3]["timestamp"])
    assert gap.total_seconds() >= 0.1  # the retry waited its backoff (a lower bound, not a speed check)
    audit = (await client.get("/v1/audit", params={"chain_id": chain_id, "verdict": "chain"})).json()
    attempts = [r for r in audit["records"] if r["provider"] == "flaky"]
    assert sorted(r["outcome"] for r in attempts) == ["executed", "failed", "failed"]  # one per attempt


async def test_abort_fails_the_run_and_skip_continues(client: httpx.AsyncClient, target: Target) -> None:
    target.answer("/broken", default=(400, {"error": "bad"}, 0.0))
    calls_after = len(target.received("/after"))
    aborted = await settled(client, (await start(client, "aborting"))["chain_id"])
    assert aborted["status"] == "failed" and aborted["execution_path"] == ["broken"]
    assert [s["status"] for s in aborted["steps"]] == ["failed", "pending"]
    assert aborted["steps"][0]["error"]["retryable"] is False
    assert len(target.received("/after")) == calls_after  # nothing after an abort
    entries = await history(client, aborted["chain_id"])
    assert types(entries)[-2:] == ["step_failed", "failed"] and entries[-1]["failed_step"] == "broken"

    skipped = await settled(client, (await start(client, "skipping"))["chain_id"])
    assert skipped["status"] == "completed" and skipped["execution_path"] == ["broken", "after"]
    assert [s["status"] for s in skipped["steps"]] == ["skipped", "completed"]
    assert skipped["steps"][0]["response_status"] == "failure"
    assert target.received("/after")[-1]["payload"] == "failure"  # prev.status of a skipped step
    entries = await history(client, skipped["chain_id"])
    assert "step_skipped" in types(entries)


async def test_branches_pick_the_path(client: httpx.AsyncClient, target: Target) -> None:
    target.answer("/search", (200, {"count": 5}, 0.0), (200, {"count": 1}, 0.0))
    big = await settled(client, (await start(client, "branching"))["chain_id"])
    assert big["execution_path"] == ["check", "big", "done"]
    assert [s["status"] for s in big["steps"]] == ["completed", "pending", "completed", "completed"]
    small = await settled(client, (await start(client, "branching"))["chain_id"])
    assert small["execution_path"] == ["check", "small", "done"]


async def test_delay_seconds(client: httpx.AsyncClient) -> None:
    chain_id = (await start(client, "delayed"))["chain_id"]
    await settled(client, chain_id)
    entries = await history(client, chain_id)
    first_start = next(e for e in entries if e["type"] == "step_start")
    waited = parse_ts(first_start["timestamp"]) - parse_ts(entries[0]["timestamp"])
    assert waited.total_seconds() >= 1.0


async def test_timeout_records_the_late_result_after_timed_out(
    client: httpx.AsyncClient, target: Target
) -> None:
    target.answer("/slow", default=(200, {"late": True}, 2.5))
    calls_after = len(target.received("/after"))
    async with subscribe(client, params={"tenant": "acme", "event_type": "chain_completed"}) as stream:
        chain_id = (await start(client, "slowpoke"))["chain_id"]
        completed = orjson.loads((await stream.take(1, within=10.0))[0].data)
    assert completed["chain_id"] == chain_id and completed["status"] == "timed_out"
    detail = await settled(client, chain_id)
    assert detail["status"] == "timed_out" and detail["current_step"] is None
    entries = await history(client, chain_id)
    assert types(entries)[-2:] == ["timed_out", "step_complete"]
    assert entries[-2]["timeout_seconds"] == 1 and entries[-1]["next_step"] is None
    assert len(target.received("/after")) == calls_after


async def test_cancel_mid_chain(client: httpx.AsyncClient, target: Target) -> None:
    target.answer("/slow", default=(200, {"late": True}, 1.0))
    calls_after = len(target.received("/after"))
    chain_id = (await start(client, "cancellable"))["chain_id"]
    async with asyncio.timeout(10):
        while "step_start" not in types(await history(client, chain_id)):  # noqa: ASYNC110 - polls HTTP
            await asyncio.sleep(0.02)
    async with subscribe(client, params={"chain_id": chain_id, "event_type": "chain_completed"}) as stream:
        response = await client.post(
            f"/v1/chains/{chain_id}/cancel",
            json={"reason": "superseded", "namespace": "research", "tenant": "acme"},
            headers=OPS,
        )
        assert response.status_code == 200, response.text
        completed = orjson.loads((await stream.take(1))[0].data)
    assert (completed["status"], completed["execution_path"]) == ("cancelled", [])
    body = response.json()
    assert (
        body["status"] == "cancelled"
        and body["cancel_reason"] == "superseded"
        and body["cancelled_by"] == "ops"
    )
    assert body["current_step"] is None and body["completed_at"] is not None
    again = await client.post(f"/v1/chains/{chain_id}/cancel")
    assert_error(again, 409, "conflict", "chain is not running (status: cancelled)")
    detail = await settled(client, chain_id)
    entries = await history(client, chain_id)
    assert types(entries)[-2:] == ["cancelled", "step_complete"]
    assert entries[-2] == {
        "execution_id": chain_id,
        "seq": entries[-2]["seq"],
        "timestamp": entries[-2]["timestamp"],
        "type": "cancelled",
        "reason": "superseded",
        "cancelled_by": "ops",
        "execution_path": [],
    }
    assert detail["status"] == "cancelled" and detail["steps"][0]["status"] == "completed"
    await asyncio.sleep(0.5)
    assert len(target.received("/after")) == calls_after  # no further step
    assert types(await history(client, chain_id)) == types(entries)


async def test_cancel_of_a_completed_chain(client: httpx.AsyncClient) -> None:
    chain_id = (await start(client, "skipping"))["chain_id"]
    await settled(client, chain_id)
    response = await client.post(f"/v1/chains/{chain_id}/cancel")
    assert_error(response, 409, "conflict", "chain is not running (status: completed)")


async def test_list_filters_pages_and_orders(client: httpx.AsyncClient) -> None:
    ids = [(await start(client, "skipping"))["chain_id"] for _ in range(3)]
    for chain_id in ids:
        await settled(client, chain_id)
    listed = (await client.get("/v1/chains", params={"chain_name": "skipping", "limit": 2})).json()
    assert listed["count"] == 2 and listed["limit"] == 2 and listed["offset"] == 0 and listed["total"] >= 3
    starts = [parse_ts(c["started_at"]) for c in listed["chains"]]
    assert starts == sorted(starts, reverse=True)
    everything = (await client.get("/v1/chains", params={"chain_name": "skipping", "limit": 1000})).json()
    assert {c["chain_id"] for c in everything["chains"]} >= set(ids)
    summary = next(c for c in everything["chains"] if c["chain_id"] == ids[0])
    assert list(summary) == [
        "chain_id", "execution_id", "chain_name", "namespace", "tenant", "status", "current_step",
        "current_step_index", "total_steps", "origin_action_id", "started_at", "updated_at", "completed_at",
    ]  # fmt: skip
    assert summary["execution_id"] == ids[0] and summary["status"] == "completed"
    assert all(
        c["status"] == "completed"
        for c in (await client.get("/v1/chains", params={"status": "completed"})).json()["chains"]
    )
    assert (await client.get("/v1/chains", params={"namespace": "elsewhere"})).json()["total"] == 0
    paged = (
        await client.get("/v1/chains", params={"chain_name": "skipping", "offset": 1, "limit": 1000})
    ).json()
    assert paged["chains"] == everything["chains"][1:]
    assert_error(await client.get("/v1/chains", params={"status": "bogus"}), 422, "validation_error")
    assert_error(await client.get("/v1/chains", params={"limit": 0}), 422, "validation_error")


async def test_detail_and_history_pages(client: httpx.AsyncClient) -> None:
    chain_id = (await start(client, "skipping"))["chain_id"]
    detail = await settled(client, chain_id)
    assert list(detail)[-4:] == ["steps", "execution_path", "cancel_reason", "cancelled_by"]
    assert list(detail["steps"][0]) == [
        "name", "index", "provider", "action_type", "status", "attempts", "started_at", "completed_at",
        "response_status", "error",
    ]  # fmt: skip
    whole = (await client.get(f"/v1/executions/{chain_id}/history")).json()
    assert list(whole) == ["execution_id", "status", "events", "count", "last_seq"]
    assert whole["count"] == whole["last_seq"] == len(whole["events"])
    page = (await client.get(f"/v1/executions/{chain_id}/history", params={"after": 2, "limit": 2})).json()
    assert (
        [e["seq"] for e in page["events"]] == [3, 4]
        and page["count"] == 2
        and page["last_seq"] == whole["last_seq"]
    )
    past = (await client.get(f"/v1/executions/{chain_id}/history", params={"after": 999})).json()
    assert past["events"] == [] and past["last_seq"] == whole["last_seq"]
    scoped = await client.get(f"/v1/chains/{chain_id}", params={"namespace": "research", "tenant": "acme"})
    assert scoped.status_code == 200
    for params in ({"after": -1}, {"limit": 0}, {"limit": 5001}, {"after": "x"}):
        assert_error(
            await client.get(f"/v1/executions/{chain_id}/history", params=params), 422, "validation_error"
        )
    for params in ({"namespace": "other"}, {"tenant": "other"}):
        assert_error(await client.get(f"/v1/chains/{chain_id}", params=params), 404, "not_found")
        assert_error(await client.get(f"/v1/executions/{chain_id}/history", params=params), 404, "not_found")
        assert_error(await client.post(f"/v1/chains/{chain_id}/cancel", json=params), 404, "not_found")
    for path in (
        "/v1/chains/nope",
        "/v1/executions/nope/history",
        "/v1/chains/019c3882-7e00-7f00-9b00-000000000002",
    ):
        assert_error(await client.get(path), 404, "not_found")
    assert_error(await client.post("/v1/chains/nope/cancel"), 404, "not_found")


async def test_grants_and_roles(client: httpx.AsyncClient) -> None:
    chain_id = (await start(client, "skipping"))["chain_id"]
    await settled(client, chain_id)
    # G3: a run outside the caller's grants is missing
    for method, path in (
        ("GET", f"/v1/chains/{chain_id}"),
        ("GET", f"/v1/executions/{chain_id}/history"),
        ("POST", f"/v1/chains/{chain_id}/cancel"),
    ):
        assert_error(await client.request(method, path, headers=OUTSIDER), 404, "not_found")
    assert (await client.get(f"/v1/chains/{chain_id}", headers=VIEWER)).status_code == 200
    # G2 / G4
    assert_error(
        await client.get("/v1/chains", params={"tenant": "acme"}, headers=OUTSIDER), 403, "forbidden"
    )
    assert (await client.get("/v1/chains", headers=OUTSIDER)).json()["total"] == 0
    assert (await client.get("/v1/chains", headers=VIEWER)).json()["total"] >= 1
    # roles: cancel and definition changes need manage
    assert_error(await client.post(f"/v1/chains/{chain_id}/cancel", headers=VIEWER), 403, "forbidden")
    assert_error(await client.put("/v1/chains/definitions/x", json={}, headers=VIEWER), 403, "forbidden")
    assert_error(await client.delete("/v1/chains/definitions/x", headers=VIEWER), 403, "forbidden")
    assert (await client.get("/v1/chains/definitions", headers=VIEWER)).status_code == 200
    async with httpx.AsyncClient(base_url=str(client.base_url)) as anonymous:
        assert_error(await anonymous.get(f"/v1/executions/{chain_id}/history"), 401, "unauthorized")
        assert_error(await anonymous.get("/v1/chains"), 401, "unauthorized")
        assert_error(await anonymous.get("/v1/chains/definitions"), 401, "unauthorized")


async def test_cancel_body_errors(client: httpx.AsyncClient) -> None:
    chain_id = (await start(client, "skipping"))["chain_id"]
    await settled(client, chain_id)
    path = f"/v1/chains/{chain_id}/cancel"
    assert_error(await client.post(path, json={"reason": "x" * 1025}), 422, "validation_error")
    assert_error(await client.post(path, json={"unknown": 1}), 409, "conflict")  # unknown keys ignored (D3)
    assert_error(await client.post(path, json={"reason": 5}), 422, "validation_error")
    assert_error(
        await client.post(path, content=b"{", headers={"Content-Type": "application/json"}),
        400,
        "invalid_json",
    )
    assert_error(
        await client.post(path, content=b"x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )


DEFINITION = {
    "steps": [
        {"name": "one", "provider": "after", "action_type": "t", "payload_template": {"c": "{{chain_id}}"}}
    ]
}


async def test_definition_endpoints(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/chains/definitions")).json()["definitions"]
    names = [d["name"] for d in listed]
    assert names == sorted(names) and "pipeline" in names and {d["source"] for d in listed} == {"config"}
    one = (await client.get("/v1/chains/definitions/pipeline")).json()
    assert one["source"] == "config" and one["steps"][0]["name"] == "search"
    assert_error(await client.get("/v1/chains/definitions/nope"), 404, "not_found")
    created = await client.put("/v1/chains/definitions/adhoc", json=DEFINITION, headers=OPS)
    assert created.status_code == 201, created.text
    assert created.json()["source"] == "api" and created.json()["name"] == "adhoc"
    replaced = await client.put(
        "/v1/chains/definitions/adhoc", json={**DEFINITION, "name": "adhoc", "timeout_seconds": 30}
    )
    assert replaced.status_code == 200 and replaced.json()["timeout_seconds"] == 30
    assert "adhoc" in [d["name"] for d in (await client.get("/v1/chains/definitions")).json()["definitions"]]
    # 409: config definitions
    assert_error(await client.put("/v1/chains/definitions/pipeline", json=DEFINITION), 409, "conflict")
    assert_error(await client.delete("/v1/chains/definitions/pipeline"), 409, "conflict")
    # 422 with the features.md wording
    bad = {
        "steps": [
            {
                "name": "a",
                "provider": "after",
                "action_type": "t",
                "branches": [{"field": "status", "operator": "eq", "value": "x", "target": "notfy"}],
            }
        ]
    }
    body = assert_error(
        await client.put("/v1/chains/definitions/research", json=bad), 422, "validation_error"
    )
    assert body["message"] == "chain 'research': steps[0].branches[0].target: unknown step 'notfy'"
    body = assert_error(
        await client.put("/v1/chains/definitions/adhoc", json={**DEFINITION, "name": "other"}),
        422,
        "validation_error",
    )
    assert "must equal the name in the path" in str(body["message"])
    unknown = {"steps": [{"name": "a", "provider": "sms", "action_type": "t"}]}
    body = assert_error(await client.put("/v1/chains/definitions/x", json=unknown), 422, "validation_error")
    assert body["message"] == "chain 'x': steps[0].provider: unknown provider 'sms'"
    assert_error(await client.put("/v1/chains/definitions/x", json=[1]), 422, "validation_error")
    assert_error(
        await client.put(
            "/v1/chains/definitions/x", content=b"{", headers={"Content-Type": "application/json"}
        ),
        400,
        "invalid_json",
    )
    # delete
    assert (await client.delete("/v1/chains/definitions/adhoc")).status_code == 204
    assert_error(await client.delete("/v1/chains/definitions/adhoc"), 404, "not_found")
    assert_error(await client.get("/v1/chains/definitions/adhoc"), 404, "not_found")


async def test_rules_may_name_api_definitions(
    client: httpx.AsyncClient, target: Target, directory: Path
) -> None:
    """A rule naming an API definition loads once it exists; while a loaded rule names it, it cannot be
    deleted; a rule naming an unknown chain fails to load (the reload keeps the previous rules)."""
    rules_dir = directory / "rules"
    assert (await client.put("/v1/chains/definitions/adhoc", json=DEFINITION)).status_code == 201
    extra = rules_dir / "zz-adhoc.yaml"
    extra.write_text(
        "rules:\n  - name: start-adhoc\n    condition: {field: action.action_type, eq: run_adhoc}\n"
        "    action: {type: chain, chain: adhoc}\n"
    )
    try:
        reload = (await client.post("/v1/rules/reload")).json()
        assert reload["applied"] is True, reload
        chain_id = (await start(client, "adhoc"))["chain_id"]
        detail = await settled(client, chain_id)
        assert detail["status"] == "completed"
        assert target.received("/after")[-1]["payload"] == {"c": chain_id}
        assert_error(
            await client.delete("/v1/chains/definitions/adhoc"),
            409,
            "conflict",
            "chain definition 'adhoc' is used by a loaded rule",
        )
        extra.write_text(extra.read_text().replace("chain: adhoc", "chain: unknown-chain"))
        failed = (await client.post("/v1/rules/reload")).json()
        assert failed["applied"] is False
        assert "unknown chain 'unknown-chain'" in failed["errors"][0]["message"]
    finally:
        extra.unlink()
        await client.post("/v1/rules/reload")
    assert (await client.delete("/v1/chains/definitions/adhoc")).status_code == 204


async def test_chain_started_precedes_the_first_step_on_the_stream(client: httpx.AsyncClient) -> None:
    """stream.md §1.8: the dispatch's action_dispatched (chain_started) comes before any chain_advanced,
    though the first step's worker is woken in the same instant."""
    for _ in range(20):  # the race it guards against lost about one run in three
        async with subscribe(client, params={"tenant": "acme", "namespace": "research"}) as stream:
            started = await start(client, "skipping")
            seen: list[str] = []
            async with asyncio.timeout(10):
                while "chain_advanced" not in seen:
                    data = orjson.loads((await stream.take(1))[0].data)
                    if (
                        data.get("action_id") == started["action_id"]
                        or data.get("chain_id") == (started["chain_id"])
                    ):
                        seen.append(data["type"])
        assert seen[0] == "action_dispatched", seen
