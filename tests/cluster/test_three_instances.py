"""Three real ``tidegate serve`` processes on one Redis, and on one PostgreSQL, with one shared
PostgreSQL audit trail (DESIGN.md §4 "Scale out", features.md §20, stream.md §1.12): a dedup key is
claimed once for the cluster, a subscriber on any instance sees every instance's events and resumes on
any other, and a kill -9 of one instance loses no acknowledged action.

The first three tests share one set of processes per backend (each works in a namespace of its own);
the kill -9 test gets its own."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import orjson
import pytest
from httpx_sse import ServerSentEvent

from tests.cluster._cluster import clients
from tests.cluster.processes import Instance, ProcessCluster, serve_cluster, shared_backends
from tests.stream_http._client import subscribe

BACKENDS = ["redis", "postgres"]

RULES = """\
rules:
  - name: once-per-user
    priority: 1
    condition: {field: action.action_type, eq: welcome}
    action: {type: deduplicate, ttl_seconds: 600}
"""

LOAD_ACTIONS = 2000
LOAD_CONCURRENCY = 32


def settings(sections: Mapping[str, object], log_level: str = "info") -> dict[str, object]:
    return {**sections, "logging": {"level": log_level}, "rules": {"watch": False}}


@pytest.fixture(scope="module", params=BACKENDS)
def three(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProcessCluster]:
    directory = tmp_path_factory.mktemp(f"three-{request.param}")
    with (
        shared_backends(request.param) as sections,
        serve_cluster(directory, 3, settings(sections), RULES) as c,
    ):
        yield c


@pytest.fixture(params=BACKENDS)
def doomed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessCluster]:
    """Three processes of which the test kills one (no access log: 2 cores serve the load and the test)."""
    with (
        shared_backends(request.param) as sections,
        serve_cluster(tmp_path, 3, settings(sections, "warning"), RULES) as c,
    ):
        yield c


def fresh_namespace() -> str:
    return f"ns-{uuid.uuid4().hex[:12]}"


def action(namespace: str, action_type: str = "send", **extra: object) -> dict[str, object]:
    return {
        "namespace": namespace,
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": action_type,
        "payload": {"to": "user@example.com"},
        **extra,
    }


async def dispatch(client: httpx.AsyncClient, namespace: str) -> str:
    """One executed dispatch; its action id."""
    answer = await client.post("/v1/dispatch", json=action(namespace))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "executed", answer.json()
    return str(answer.json()["action_id"])


def action_ids(events: list[ServerSentEvent]) -> list[str]:
    assert {sse.event for sse in events} == {"action_dispatched"}, events
    return [str(orjson.loads(sse.data)["action_id"]) for sse in events]


@pytest.mark.timeout(60)
async def test_200_concurrent_duplicates_over_three_instances_execute_once(three: ProcessCluster) -> None:
    namespace = fresh_namespace()
    body = action(namespace, "welcome", dedup_key=f"{namespace}-welcome")
    urls = three.urls
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.post(f"{urls[n % 3]}/v1/dispatch", json=body) for n in range(200))
        )
        assert Counter(answer.status_code for answer in answers) == {200: 200}
        outcomes = Counter(answer.json()["outcome"] for answer in answers)
        assert outcomes == {"executed": 1, "deduplicated": 199}
        [winner] = [a.json()["action_id"] for a in answers if a.json()["outcome"] == "executed"]
        originals = {a.json()["original_action_id"] for a in answers if a.json()["outcome"] == "deduplicated"}
        assert originals == {winner}
        for url in urls:  # one trail: every instance sees every instance's records
            audit = (await client.get(f"{url}/v1/audit", params={"namespace": namespace, "limit": 1})).json()
            assert audit["total"] == 200, url
            executed = {"namespace": namespace, "outcome": "executed"}
            [record] = (await client.get(f"{url}/v1/audit", params=executed)).json()["records"]
            assert record["action_id"] == winner


@pytest.mark.timeout(60)
async def test_a_subscriber_on_one_instance_receives_the_dispatches_of_the_others_once(
    three: ProcessCluster,
) -> None:
    namespace = fresh_namespace()
    async with clients(three.urls) as (a, b, c), subscribe(a, {"namespace": namespace}) as stream:
        sent = await asyncio.gather(*(dispatch(client, namespace) for client in (b, c) * 10))
        received = action_ids(await stream.take(20, within=10.0))
        assert Counter(received) == Counter(sent) and len(set(sent)) == 20
        # A duplicate of any of them would come before this later dispatch's event.
        last = await dispatch(c, namespace)
        assert action_ids(await stream.take(1, within=10.0)) == [last]


@pytest.mark.timeout(60)
async def test_a_client_resumes_on_another_instance_and_gets_every_missed_event_once(
    three: ProcessCluster,
) -> None:
    params = {"namespace": fresh_namespace()}
    namespace = params["namespace"]
    async with clients(three.urls) as (a, b, c):
        async with subscribe(a, params) as stream:
            first = [await dispatch(b, namespace) for _ in range(6)]
            seen = await stream.take(3, within=10.0)
            assert action_ids(seen) == first[:3]
            resume_from = seen[-1].id
        # Gone from A: three events it was sent but never read, then six more dispatched meanwhile.
        missed = first[3:] + [await dispatch(b, namespace) for _ in range(6)]
        async with subscribe(c, params, {"last-event-id": resume_from}) as stream:
            assert action_ids(await stream.take(9, within=10.0)) == missed
            live = [await dispatch(client, namespace) for client in (a, b, c)]
            assert action_ids(await stream.take(3, within=10.0)) == live


@pytest.mark.timeout(90)
async def test_every_acknowledged_action_is_audited_after_a_kill_9_of_one_instance(
    doomed: ProcessCluster,
) -> None:
    namespace = fresh_namespace()
    victim = doomed.instances[1]
    answers = await load_with_a_kill(doomed, namespace, victim)
    assert victim.process.returncode == -signal.SIGKILL
    survivors = [instance.url for instance in doomed.instances if instance is not victim]
    tallies = {url: Counter(answers[n] for n in sent_to(doomed, url)) for url in doomed.urls}
    for url in survivors:  # they never noticed
        assert set(tallies[url]) == {"200"}, tallies[url]
    failures = set(tallies[victim.url]) - {"200"}
    assert tallies[victim.url]["200"] > 0 and failures, tallies[victim.url]  # killed midway
    assert failures <= TRANSPORT_ERRORS, tallies[victim.url]

    acknowledged = {action_id(namespace, n) for n, answer in enumerate(answers) if answer == "200"}
    audited = await audited_ids(survivors, namespace)
    assert not acknowledged - set(audited), (
        f"{len(acknowledged - set(audited))} acknowledged actions have no audit record"
    )
    # Actions the victim committed but could not answer before it died may have records too; but no
    # action has two.
    assert set(audited.values()) == {1}
    # The victim's acknowledged actions are the ones its crash put at risk: each one by id as well.
    at_risk = [action_id(namespace, n) for n in sent_to(doomed, victim.url) if answers[n] == "200"]
    assert await unaudited(survivors, at_risk) == []


#: What a client sees of an instance that died: refused connections, or one cut in the middle.
TRANSPORT_ERRORS = frozenset({"ConnectError", "ReadError", "WriteError", "RemoteProtocolError"})


def sent_to(cluster: ProcessCluster, url: str) -> list[int]:
    """The load's action numbers that went to ``url`` (round-robin)."""
    index = cluster.urls.index(url)
    return list(range(index, LOAD_ACTIONS, len(cluster.urls)))


def action_id(namespace: str, n: int) -> str:
    return f"{namespace}-{n:04d}"


async def load_with_a_kill(cluster: ProcessCluster, namespace: str, victim: Instance) -> list[str]:
    """Dispatch ``LOAD_ACTIONS`` actions with client-chosen ids, round-robin over the instances,
    ``LOAD_CONCURRENCY`` at a time; SIGKILL one instance once half have been answered. Each answer is
    the status code, or the name of the transport error."""
    answers = [""] * LOAD_ACTIONS
    pending = iter(range(LOAD_ACTIONS))
    halfway = asyncio.Event()
    done = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        for n in pending:
            url = cluster.urls[n % 3]
            body = action(namespace, id=action_id(namespace, n))
            try:
                answers[n] = str((await client.post(f"{url}/v1/dispatch", json=body)).status_code)
            except httpx.TransportError as exc:
                answers[n] = type(exc).__name__
            done += 1
            if done == LOAD_ACTIONS // 2:
                halfway.set()

    async def killer() -> None:
        await halfway.wait()
        await asyncio.to_thread(victim.kill)

    limits = httpx.Limits(max_connections=LOAD_CONCURRENCY * 3)
    async with httpx.AsyncClient(timeout=20.0, limits=limits) as client:
        await asyncio.gather(killer(), *(worker(client) for _ in range(LOAD_CONCURRENCY)))
    return answers


async def audited_ids(urls: list[str], namespace: str) -> Counter[str]:
    """The action ids of the audit records of ``namespace`` (paged through ``GET /v1/audit``), counted."""
    ids: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=20.0) as client:
        for page in range(LOAD_ACTIONS // 1000 + 2):
            params: dict[str, str | int] = {"namespace": namespace, "limit": 1000, "offset": page * 1000}
            answer = await client.get(f"{urls[page % len(urls)]}/v1/audit", params=params)
            assert answer.status_code == 200, answer.text
            records = answer.json()["records"]
            ids.update(record["action_id"] for record in records)
            if len(records) < 1000:
                return ids
    raise AssertionError("more audit records than actions")


async def unaudited(urls: list[str], ids: list[str]) -> list[str]:
    """The ids among ``ids`` for which ``GET /v1/audit/{id}`` on the instances is not 200."""
    missing: list[str] = []
    pending = iter(enumerate(ids))

    async def worker(client: httpx.AsyncClient) -> None:
        for n, wanted in pending:
            answer = await client.get(f"{urls[n % len(urls)]}/v1/audit/{wanted}")
            if answer.status_code != 200 or answer.json()["action_id"] != wanted:
                missing.append(wanted)

    async with httpx.AsyncClient(timeout=20.0, limits=httpx.Limits(max_connections=32)) as client:
        await asyncio.gather(*(worker(client) for _ in range(32)))
    return missing
