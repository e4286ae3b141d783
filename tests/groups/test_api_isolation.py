"""Groups under tenant grants (api.md §1.2, security.md §5): lists hold only covered groups (G4), a
named tenant no grant covers is 403 (G2), and a foreign group answers 404 exactly like a missing one,
for reading and for flushing (G3); a viewer may read groups but not flush them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.api.auth_support import Identity, auth_settings, bearer
from tests.helpers.errors import assert_error
from tests.helpers.server import serving

RULES = """\
rules:
  - name: group-all
    priority: 1
    condition: {field: action.action_type, eq: alert}
    action: {type: group, group_by: [action_type], group_wait_seconds: 3600}
"""
ACME, GLOBEX, VIEWER = "tg_acme-key", "tg_globex-key", "tg_viewer-key"
IDENTITIES = [
    Identity("acme-app", "operator", key=ACME, grants=[{"tenants": ["acme"]}]),
    Identity("globex-app", "operator", key=GLOBEX, grants=[{"tenants": ["globex"]}]),
    Identity("acme-viewer", "viewer", key=VIEWER, grants=[{"tenants": ["acme"]}]),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("group-isolation")
    settings = auth_settings(directory, IDENTITIES, auth={"watch": False})
    (directory / "rules" / "20-groups.yaml").write_text(RULES)
    with serving(settings) as url:
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=10.0) as http:
        yield http


async def group_of(client: httpx.AsyncClient, tenant: str, key: str) -> str:
    body = {"namespace": "alerts", "tenant": tenant, "provider": "log", "action_type": "alert", "payload": {}}
    response = await client.post("/v1/dispatch", json=body, headers=bearer(key))
    assert response.json()["outcome"] == "grouped", response.text
    return str(response.json()["group_key"])


async def test_groups_stay_inside_the_grants(client: httpx.AsyncClient) -> None:
    mine = await group_of(client, "acme.eu", ACME)
    theirs = await group_of(client, "globex", GLOBEX)
    listed = (await client.get("/v1/groups", headers=bearer(ACME))).json()
    assert [g["group_key"] for g in listed["groups"]] == [mine] and listed["total"] == 1
    assert_error(
        await client.get("/v1/groups", params={"tenant": "globex"}, headers=bearer(ACME)), 403, "forbidden"
    )
    assert (await client.get("/v1/groups", params={"tenant": "acme.eu"}, headers=bearer(ACME))).json()[
        "total"
    ] == 1
    missing = "f" * 64
    for method in ("GET", "DELETE"):
        hidden = await client.request(method, f"/v1/groups/{theirs}", headers=bearer(ACME))
        assert_error(hidden, 404, "not_found", f"group not found: {theirs}")
        absent = await client.request(method, f"/v1/groups/{missing}", headers=bearer(ACME))
        assert_error(absent, 404, "not_found", f"group not found: {missing}")
    assert (
        await client.get(f"/v1/groups/{theirs}", headers=bearer(GLOBEX))
    ).status_code == 200  # not flushed
    assert (await client.get(f"/v1/groups/{mine}", headers=bearer(VIEWER))).status_code == 200
    assert_error(await client.delete(f"/v1/groups/{mine}", headers=bearer(VIEWER)), 403, "forbidden")
    assert (await client.delete(f"/v1/groups/{mine}", headers=bearer(ACME))).json()["status"] == "flushed"
