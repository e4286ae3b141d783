"""Groups over HTTP (api.md §8, features.md §13, stream.md §1.4/§1.8) on a real server: dispatches answer
``grouped``, the flush reaches a real webhook endpoint once, the stream carries the events in the spec's
order with the group's real scope, and ``DELETE`` is a real flush. The server's clock is a manual one:
its timer loop polls every 0.1 s, and a test moves the clock past ``notify_at``."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from httpx_sse import ServerSentEvent

from tests.api.conftest import make_settings
from tests.groups._receiver import Receiver
from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tests.stream_http._client import Reader, subscribe
from tidegate.clock import ManualClock
from tidegate.groups import group_key
from tidegate.model.time import format_ts

GROUP_RULES = """\
rules:
  - name: group-cluster-alerts
    priority: 1
    condition: {field: action.action_type, eq: cluster_cpu}
    action:
      type: group
      group_by: [metadata.cluster]
      group_wait_seconds: 60
      group_interval_seconds: 300
      max_group_size: 5
      notify_provider: pager
"""
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock, receiver: Receiver) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("groups")
    settings = make_settings(
        directory,
        providers=[{"name": "log", "type": "log"}, {"name": "pager", "type": "webhook", "url": receiver.url}],
        background={"poll_interval_seconds": 0.1},
    )
    (directory / "rules" / "20-groups.yaml").write_text(GROUP_RULES)
    with serving(settings, clock=clock) as url:
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=10.0) as http:
        yield http


@pytest.fixture
def namespace() -> str:
    """Each test works in a namespace of its own on the shared server."""
    return f"ns-{uuid.uuid4().hex[:10]}"


def alert(namespace: str, n: int, cluster: str = "eu-1", tenant: str = "acme") -> dict[str, object]:
    return {
        "id": f"{namespace}-{n}",
        "namespace": namespace,
        "tenant": tenant,
        "provider": "log",
        "action_type": "cluster_cpu",
        "payload": {"cpu": 90 + n},
        "metadata": {"labels": {"cluster": cluster}},
        "fingerprint": f"fp-{n}",
    }


async def dispatch(client: httpx.AsyncClient, body: dict[str, object]) -> dict[str, Any]:
    response = await client.post("/v1/dispatch", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def frames(events: list[ServerSentEvent]) -> list[dict[str, Any]]:
    return [orjson.loads(sse.data) for sse in events]


async def notification_events(stream: Reader) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next ``group_flushed`` and the notification's ``action_dispatched`` after it."""
    flushed, notified = frames(await stream.take(2, within=10.0))
    assert flushed["type"] == "group_flushed", flushed
    assert (notified["type"], notified["action_type"]) == ("action_dispatched", "group_notification")
    return flushed, notified


async def test_a_group_of_five_flushes_once_into_one_notification(
    client: httpx.AsyncClient, receiver: Receiver, namespace: str, clock: ManualClock
) -> None:
    async with subscribe(client, {"namespace": namespace}) as stream:
        answers = [await dispatch(client, alert(namespace, n)) for n in range(5)]
        assert [list(a) for a in answers] == [
            ["action_id", "outcome", "group_id", "group_key", "group_size", "notify_at"]
        ] * 5
        assert [a["group_size"] for a in answers] == [1, 2, 3, 4, 5]
        key = group_key(namespace, "acme", "group-cluster-alerts", [("metadata.cluster", "eu-1")])
        assert {a["group_key"] for a in answers} == {key}
        assert {a["notify_at"] for a in answers[:4]} == {format_ts(clock.now() + timedelta(seconds=60))}
        assert answers[4]["notify_at"] == format_ts(clock.now())  # the fifth filled the batch
        members = frames(await stream.take(10))
        assert [(f["type"], f["action_id"]) for f in members] == [
            (kind, f"{namespace}-{n}")
            for n in range(5)
            for kind in ("group_event_added", "action_dispatched")
        ]
        assert [f["event_count"] for f in members[::2]] == [1, 2, 3, 4, 5]
        assert members[1]["outcome"] == {"Grouped": {k: answers[0][k] for k in list(answers[0])[2:]}}
        flushed, notified = await notification_events(stream)
    group_id = answers[0]["group_id"]
    assert list(flushed) == ["id", "timestamp", "type", "group_id", "event_count", "namespace", "tenant"]
    assert (flushed["group_id"], flushed["event_count"]) == (group_id, 5)
    assert (flushed["namespace"], flushed["tenant"]) == (namespace, "acme")
    assert notified["provider"] == "pager" and (notified["namespace"], notified["tenant"]) == (
        namespace,
        "acme",
    )
    assert notified["outcome"] == {"Executed": {"status": "success", "body": None, "headers": {}}}
    [posted] = receiver.received(namespace)
    assert (posted["action_type"], posted["provider"], posted["id"]) == (
        "group_notification",
        "pager",
        notified["action_id"],
    )
    assert posted["metadata"] == {"group_id": group_id, "group_key": key}
    payload = posted["payload"]
    assert (payload["event_count"], payload["flush_count"], payload["repeat"]) == (5, 1, False)
    assert [e["action_id"] for e in payload["events"]] == [f"{namespace}-{n}" for n in range(5)]
    assert payload["events"][0]["payload"] == {"cpu": 90} and payload["labels"] == {
        "metadata.cluster": "eu-1"
    }
    group = (await client.get(f"/v1/groups/{key}")).json()["group"]
    assert (group["state"], group["event_count"]) == ("notified", 5)


async def test_a_group_flushes_when_its_wait_is_over(
    client: httpx.AsyncClient, receiver: Receiver, namespace: str, clock: ManualClock
) -> None:
    async with subscribe(client, {"namespace": namespace}) as stream:
        answers = [await dispatch(client, alert(namespace, n)) for n in range(2)]
        await stream.take(4)
        clock.advance(59)
        assert receiver.received(namespace) == []
        clock.advance(1)
        flushed, _ = await notification_events(stream)
    assert flushed["event_count"] == 2 and flushed["group_id"] == answers[0]["group_id"]
    [posted] = receiver.received(namespace)
    assert posted["payload"]["text"] == "2 events grouped by metadata.cluster=eu-1"


async def test_groups_are_listed_and_shown_with_their_events(
    client: httpx.AsyncClient, namespace: str
) -> None:
    first = await dispatch(client, alert(namespace, 0))
    await dispatch(client, alert(namespace, 1))
    other = await dispatch(client, alert(namespace, 2, cluster="us-1"))
    listed = (await client.get("/v1/groups", params={"namespace": namespace})).json()
    assert (listed["count"], listed["total"], listed["limit"], listed["offset"]) == (2, 2, 100, 0)
    newest, oldest = listed["groups"]
    assert (newest["group_id"], oldest["group_id"]) == (other["group_id"], first["group_id"])
    assert list(oldest) == [
        "group_id", "group_key", "namespace", "tenant", "state", "event_count", "labels", "notify_at",
        "created_at", "updated_at",
    ]  # fmt: skip
    assert (oldest["namespace"], oldest["tenant"], oldest["state"], oldest["event_count"]) == (
        namespace,
        "acme",
        "pending",
        2,
    )
    assert oldest["labels"] == {"metadata.cluster": "eu-1"} and oldest["notify_at"] == first["notify_at"]
    assert all(TIMESTAMP.fullmatch(oldest[k]) for k in ("notify_at", "created_at", "updated_at"))
    page = (await client.get("/v1/groups", params={"namespace": namespace, "limit": 1, "offset": 1})).json()
    assert [g["group_id"] for g in page["groups"]] == [first["group_id"]] and page["total"] == 2
    for params, total in (({"state": "pending"}, 2), ({"state": "notified"}, 0), ({"tenant": "nobody"}, 0)):
        assert (await client.get("/v1/groups", params={"namespace": namespace, **params})).json()[
            "total"
        ] == total
    detail = (await client.get(f"/v1/groups/{first['group_key']}")).json()
    assert detail["group"] == oldest
    assert [list(e) for e in detail["events"]] == [
        ["action_id", "fingerprint", "status", "payload", "received_at"]
    ] * 2
    assert [e["action_id"] for e in detail["events"]] == [f"{namespace}-0", f"{namespace}-1"]  # oldest first
    assert detail["events"][1]["payload"] == {"cpu": 91} and detail["events"][1]["fingerprint"] == "fp-1"


@pytest.mark.parametrize("params", [{"state": "closed"}, {"limit": "0"}, {"limit": "1001"}, {"offset": "-1"}])
async def test_bad_list_queries_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert_error(await client.get("/v1/groups", params=params), 422, "validation_error")


@pytest.mark.parametrize("key", ["0" * 64, "not-a-key", "a%3Ab"])
async def test_an_unknown_group_is_404(client: httpx.AsyncClient, key: str) -> None:
    assert_error(await client.get(f"/v1/groups/{key}"), 404, "not_found")
    assert_error(await client.delete(f"/v1/groups/{key}"), 404, "not_found")


async def test_delete_is_a_real_flush_then_a_close(
    client: httpx.AsyncClient, receiver: Receiver, namespace: str
) -> None:
    answers = [await dispatch(client, alert(namespace, n)) for n in range(3)]
    key = answers[0]["group_key"]
    async with subscribe(client, {"namespace": namespace}) as stream:
        response = await client.delete(f"/v1/groups/{key}")
        assert response.status_code == 200, response.text
        body = response.json()
        flushed, notified = await notification_events(stream)
    assert list(body) == ["group_id", "group_key", "event_count", "status", "notified", "notification"]
    assert (body["group_id"], body["group_key"], body["event_count"]) == (answers[0]["group_id"], key, 3)
    assert (body["status"], body["notified"]) == ("flushed", True)
    notification = body["notification"]  # the notification dispatch's own body (api.md §3.3)
    assert list(notification) == ["action_id", "outcome", "response"]
    assert (notification["action_id"], notification["outcome"]) == (notified["action_id"], "executed")
    assert (notification["response"]["status"], notification["response"]["body"]) == ("success", {"ok": True})
    assert (flushed["event_count"], flushed["namespace"]) == (3, namespace)
    [posted] = receiver.received(namespace)
    assert [e["action_id"] for e in posted["payload"]["events"]] == [f"{namespace}-{n}" for n in range(3)]
    assert_error(await client.get(f"/v1/groups/{key}"), 404, "not_found", f"group not found: {key}")
    assert_error(await client.delete(f"/v1/groups/{key}"), 404, "not_found", f"group not found: {key}")


async def test_delete_of_a_notified_group_only_closes_it(
    client: httpx.AsyncClient, receiver: Receiver, namespace: str
) -> None:
    answers = [await dispatch(client, alert(namespace, n)) for n in range(5)]  # flushed at once
    key = answers[0]["group_key"]
    async with subscribe(client, {"namespace": namespace}) as stream:
        response = await client.delete(f"/v1/groups/{key}")
        assert response.json() == {
            "group_id": answers[0]["group_id"],
            "group_key": key,
            "event_count": 0,
            "status": "closed",
            "notified": False,
            "notification": None,
        }
        later = await dispatch(client, alert(namespace, 9))  # the key forms a new group
        assert later["group_key"] == key and later["group_id"] != answers[0]["group_id"]
        assert [f["type"] for f in frames(await stream.take(2))] == ["group_event_added", "action_dispatched"]
    assert len(receiver.received(namespace)) <= 1  # only the size flush's notification, if ever


async def test_dry_run_creates_no_group(client: httpx.AsyncClient, namespace: str) -> None:
    response = await client.post("/v1/dispatch", params={"dry_run": "true"}, json=alert(namespace, 0))
    assert response.json()["verdict"] == "group" and response.json()["would_be_provider"] == "pager"
    assert (await client.get("/v1/groups", params={"namespace": namespace})).json()["total"] == 0


async def test_a_group_whose_notify_provider_is_unknown_answers_404_and_groups_nothing(
    tmp_path: Path,
) -> None:
    """D5: the group verdict checks its notification provider before any state change."""
    settings = make_settings(tmp_path, providers=[{"name": "log", "type": "log"}])
    (tmp_path / "rules" / "20-groups.yaml").write_text(GROUP_RULES.replace("notify_provider: pager\n", ""))
    with serving(settings) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            unknown = {**alert("ns", 0), "provider": "nowhere"}
            assert_error(
                await http.post("/v1/dispatch", json=unknown),
                404,
                "provider_not_found",
                "Provider not found: nowhere",
            )
            assert (await http.get("/v1/groups")).json()["total"] == 0
            assert (await http.post("/v1/dispatch", json=alert("ns", 1))).json()["outcome"] == "grouped"
