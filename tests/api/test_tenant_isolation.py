"""Tenant isolation with real keys (api.md §1.2, security.md §4-§5, stream.md §0.6, §1.7): grants decide
what a caller may dispatch, read and watch, with hierarchical tenant patterns and one grant at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest

from tests.api.auth_support import Identity, auth_settings, bearer
from tests.helpers.errors import assert_error
from tests.stream_http._client import subscribe
from tests.stream_http._server import StreamServer, one_of_each

ACME = "tg_acme-key"  # acme and below, namespace alerts only, provider log, action type send
GLOBEX = "tg_globex-key"
ONE = "tg_acme-eu-key"  # exactly one literal tenant: its connections count in that tenant's bucket
SPLIT = "tg_split-key"  # two grants that must never be combined
IDENTITIES = [
    Identity(
        "acme-app",
        "operator",
        key=ACME,
        grants=[
            {"tenants": ["acme"], "namespaces": ["alerts"], "providers": ["log"], "action_types": ["send"]}
        ],
    ),
    Identity("globex-app", "operator", key=GLOBEX, grants=[{"tenants": ["globex"]}]),
    Identity("acme-eu-app", "viewer", key=ONE, grants=[{"tenants": ["acme.eu"]}]),
    Identity(
        "split-app",
        "operator",
        key=SPLIT,
        grants=[{"tenants": ["a"], "namespaces": ["x"]}, {"tenants": ["b"], "namespaces": ["y"]}],
    ),
]


def _action(
    tenant: str, namespace: str = "alerts", provider: str = "log", action_type: str = "send"
) -> dict[str, object]:
    return {
        "namespace": namespace,
        "tenant": tenant,
        "provider": provider,
        "action_type": action_type,
        "payload": {},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamServer]:
    settings = auth_settings(
        tmp_path_factory.mktemp("isolation"),
        IDENTITIES,
        auth={"watch": False},
        stream={"keep_alive_seconds": 1},
        server={"max_sse_connections_per_tenant": 2},
    )
    running = StreamServer(settings)
    running.app.dependency_overrides.clear()  # real authentication, not the stream suite's test header
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def client(server: StreamServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
        await server.wait_for(server.idle)
        yield http


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (_action("acme"), 200),
        (_action("acme.eu.paris"), 200),  # below the pattern
        (_action("acmecorp"), 403),  # a prefix, not a child
        (_action("acm"), 403),
        (_action("acme", namespace="billing"), 403),
        (_action("acme", provider="webhook"), 403),  # G1 comes before the provider check
        (_action("acme", action_type="page"), 403),
    ],
)
async def test_dispatch_needs_one_grant_covering_all_four_dimensions(
    client: httpx.AsyncClient, action: dict[str, object], status: int
) -> None:
    response = await client.post("/v1/dispatch", json=action, headers=bearer(ACME))
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 403, "forbidden")
    dry = await client.post("/v1/dispatch", params={"dry_run": "true"}, json=action, headers=bearer(ACME))
    assert dry.status_code == status
    streamed = await client.post("/v1/dispatch/stream", json=action, headers=bearer(ACME))
    assert streamed.status_code == status


async def test_grants_are_never_combined(client: httpx.AsyncClient) -> None:
    for tenant, namespace, status in (("a", "x", 200), ("b", "y", 200), ("a", "y", 403), ("b", "x", 403)):
        response = await client.post("/v1/dispatch", json=_action(tenant, namespace), headers=bearer(SPLIT))
        assert response.status_code == status, (tenant, namespace)


async def test_a_batch_refuses_only_the_uncovered_items(client: httpx.AsyncClient) -> None:
    actions = [_action("acme.eu"), _action("globex"), _action("acme", provider="email")]
    response = await client.post("/v1/dispatch/batch", json={"actions": actions}, headers=bearer(ACME))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["success", "error", "error"]
    assert [r["error"]["code"] for r in results[1:]] == ["forbidden", "forbidden"]


async def test_audit_reads_stay_inside_the_grants(client: httpx.AsyncClient) -> None:
    mine = await client.post(
        "/v1/dispatch", json={**_action("acme.eu"), "id": "iso-acme"}, headers=bearer(ACME)
    )
    theirs = await client.post(
        "/v1/dispatch", json={**_action("globex"), "id": "iso-globex"}, headers=bearer(GLOBEX)
    )
    assert mine.status_code == theirs.status_code == 200
    listed = (await client.get("/v1/audit", params={"limit": 1000}, headers=bearer(ACME))).json()
    assert listed["records"] and {r["tenant"].split(".")[0] for r in listed["records"]} == {"acme"}
    assert {r["namespace"] for r in listed["records"]} == {"alerts"}
    assert listed["total"] == len(listed["records"])
    assert_error(
        await client.get("/v1/audit", params={"tenant": "globex"}, headers=bearer(ACME)), 403, "forbidden"
    )
    hidden = await client.get("/v1/audit/iso-globex", headers=bearer(ACME))
    assert_error(hidden, 404, "not_found", "audit record not found: iso-globex")
    assert (await client.get("/v1/audit/iso-globex", headers=bearer(GLOBEX))).status_code == 200


def _tenants(frames: list[dict[str, object]]) -> set[object]:
    return {frame.get("tenant") for frame in frames}


async def test_a_subscriber_sees_none_of_another_tenants_events_while_it_is_busy(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    async with subscribe(client, headers=bearer(ACME)) as reader:
        await server.wait_for(lambda: server.services.broadcaster.subscriber_count == 1)
        for index in range(40):
            response = await client.post(
                "/v1/dispatch", json={**_action("globex"), "id": f"busy-{index}"}, headers=bearer(GLOBEX)
            )
            assert response.status_code == 200
        await server.publish(one_of_each(tenant="globex"))  # every event type, none of them for acme
        await server.publish(
            one_of_each(tenant="acme.eu", namespace="billing")
        )  # acme, but not its namespace
        sentinel = await client.post(
            "/v1/dispatch", json={**_action("acme"), "id": "sentinel"}, headers=bearer(ACME)
        )
        assert sentinel.status_code == 200
        (event,) = await reader.take(1)
        data = orjson.loads(event.data)
        assert (data["tenant"], data["action_id"]) == ("acme", "sentinel")  # nothing came before it


async def test_a_tenant_filter_must_be_covered(server: StreamServer, client: httpx.AsyncClient) -> None:
    assert_error(
        await client.get("/v1/stream", params={"tenant": "globex"}, headers=bearer(ACME)), 403, "forbidden"
    )
    async with subscribe(client, params={"tenant": "globex"}, headers=bearer(GLOBEX)) as reader:
        await server.wait_for(lambda: server.services.broadcaster.subscriber_count == 1)
        await server.publish(one_of_each(tenant="acme"))
        await server.publish(one_of_each(tenant="globex"))
        taken = [orjson.loads(event.data) for event in await reader.take(10)]
        assert _tenants(taken) == {"globex"}


async def test_a_single_tenant_caller_counts_in_its_tenants_bucket(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    async with subscribe(client, headers=bearer(ONE)), subscribe(client, headers=bearer(ONE)):
        assert server.services.connections.held("tenant:acme.eu") == 2
        refused = await client.get("/v1/stream", headers=bearer(ONE))
        assert_error(refused, 429, "too_many_connections", retryable=True)
        async with subscribe(client, headers=bearer(GLOBEX)):  # another bucket
            pass
