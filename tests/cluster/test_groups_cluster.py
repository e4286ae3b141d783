"""Three real servers on one Redis, and on one PostgreSQL (features.md §13, §19, §20): a group fed by
every instance flushes once into one notification, whichever instances poll its timer, and concurrent
adds over the three fill each batch once. The notification reaches one real webhook endpoint; the
servers share a manual clock, and their timer loops poll every 0.1 s."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.cluster._cluster import Cluster, clients, cluster
from tests.groups._receiver import Receiver
from tests.stream_http._client import subscribe
from tidegate.clock import ManualClock

RULES = """\
rules:
  - name: group-cluster-alerts
    priority: 1
    condition: {field: action.action_type, eq: cluster_cpu}
    action:
      type: group
      group_by: [metadata.cluster]
      group_wait_seconds: 60
      max_group_size: 5
      notify_provider: pager
"""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["redis", "postgres"])
async def three(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver, clock: ManualClock
) -> AsyncIterator[Cluster]:
    providers = [{"name": "log", "type": "log"}, {"name": "pager", "type": "webhook", "url": receiver.url}]
    async with cluster(
        tmp_path,
        request.param,
        RULES,
        clock=clock,
        count=3,
        providers=providers,
        background={"poll_interval_seconds": 0.1},
    ) as running:
        yield running


def alert(namespace: str, n: int) -> dict[str, object]:
    return {
        "id": f"{namespace}-{n}",
        "namespace": namespace,
        "tenant": "acme",
        "provider": "log",
        "action_type": "cluster_cpu",
        "payload": {"n": n},
        "metadata": {"cluster": "eu-1"},
    }


def carried(receiver: Receiver, namespace: str) -> list[list[str]]:
    return [[e["action_id"] for e in body["payload"]["events"]] for body in receiver.received(namespace)]


@pytest.mark.timeout(60)
async def test_three_servers_flush_a_group_exactly_once(
    three: Cluster, receiver: Receiver, clock: ManualClock
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:10]}"
    async with clients(three.urls) as http, subscribe(http[0], {"namespace": namespace}) as stream:
        for n in range(4):  # one group, fed by every instance
            answer = (await http[n % 3].post("/v1/dispatch", json=alert(namespace, n))).json()
            assert (answer["outcome"], answer["group_size"]) == ("grouped", n + 1)
        assert len(await stream.take(8, within=10.0)) == 8
        clock.advance(60)  # all three timer loops find the group due
        flushed, notified = [orjson.loads(sse.data) for sse in await stream.take(2, within=10.0)]
        assert (flushed["type"], flushed["event_count"], flushed["namespace"]) == (
            "group_flushed",
            4,
            namespace,
        )
        assert (notified["type"], notified["action_type"]) == ("action_dispatched", "group_notification")
        await asyncio.sleep(0.5)  # five more polls of every instance: room for a second flush to show
        marker = {**alert(namespace, 99), "action_type": "marker"}
        assert (await http[2].post("/v1/dispatch", json=marker)).json()["outcome"] == "executed"
        [after] = [orjson.loads(sse.data) for sse in await stream.take(1, within=10.0)]
        assert after["action_id"] == f"{namespace}-99"  # nothing came between the notification and it
        for client in http:  # every instance sees the one notified group
            [group] = (await client.get("/v1/groups", params={"namespace": namespace})).json()["groups"]
            assert (group["state"], group["event_count"]) == ("notified", 4)
    assert carried(receiver, namespace) == [[f"{namespace}-{n}" for n in range(4)]]


@pytest.mark.timeout(60)
async def test_concurrent_adds_over_three_servers_fill_each_batch_once(
    three: Cluster, receiver: Receiver
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:10]}"
    async with clients(three.urls) as http, subscribe(http[1], {"namespace": namespace}) as stream:
        answers = await asyncio.gather(
            *(http[n % 3].post("/v1/dispatch", json=alert(namespace, n)) for n in range(15))
        )
        sizes = sorted(a.json()["group_size"] for a in answers)
        assert sizes == [size for size in range(1, 6) for _ in range(3)]
        events = [orjson.loads(sse.data) for sse in await stream.take(36, within=15.0)]  # 15 × 2 + 3 × 2
    kinds = [(e["type"], e.get("action_type")) for e in events]
    assert kinds.count(("group_flushed", None)) == 3
    assert kinds.count(("action_dispatched", "group_notification")) == 3
    batches = carried(receiver, namespace)
    assert sorted(len(batch) for batch in batches) == [5, 5, 5]
    assert sorted(i for batch in batches for i in batch) == sorted(f"{namespace}-{n}" for n in range(15))
