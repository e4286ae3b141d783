"""Approvals with authentication on (api.md §7, §1.2): the signed endpoints ignore credentials, a POST
without ``sig`` is a credentialed decision (401, 403, 404 for a foreign tenant, ``decided_by`` = the
caller), and the list is limited to the caller's grants."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.clock import ManualClock

from .auth_support import Identity, auth_settings, bearer, login

RULES = """\
rules:
  - name: approve-refunds
    priority: 1
    condition: {field: action.action_type, eq: refund}
    action: {type: request_approval, notify_provider: log, timeout_seconds: 600}
"""
OPS = "tg_ops-key"  # operator, tenant acme
FOREIGN = "tg_globex-key"  # operator, tenant globex
IDENTITIES = [
    Identity("ops", "operator", grants=[{"tenants": ["acme"]}], key=OPS),
    Identity("globex-app", "operator", grants=[{"tenants": ["globex"]}], key=FOREIGN),
    Identity("watcher", "viewer", grants=[{"tenants": ["*"]}]),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("approvals-auth")
    (directory / "rules").mkdir()
    (directory / "rules" / "10-approvals.yaml").write_text(RULES)
    settings = auth_settings(
        directory,
        IDENTITIES,
        auth={"watch": False},
        approvals={"keys": [{"kid": "k1", "secret": "11" * 32}]},
    )
    with serving(settings, clock=clock) as url:
        yield url


async def held(client: httpx.AsyncClient, tenant: str = "acme") -> dict[str, str]:
    action = {
        "namespace": "payments",
        "tenant": tenant,
        "provider": "log",
        "action_type": "refund",
        "payload": {},
    }
    response = await client.post(
        "/v1/dispatch", json=action, headers=bearer(OPS if tenant == "acme" else FOREIGN)
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def unsigned(url: str) -> str:
    return path_of(url).split("?", 1)[0]


async def test_the_link_needs_no_credentials_and_ignores_bad_ones(client: httpx.AsyncClient) -> None:
    body = await held(client)
    bad = {"Authorization": "Bearer not.a.token"}
    assert (await client.get(path_of(body["approve_url"]), headers=bad)).status_code == 200
    status = await client.get(path_of(body["approve_url"]).replace("/approve?", "?"))
    assert status.status_code == 200 and status.json()["status"] == "pending"
    answer = await client.post(path_of(body["approve_url"]), headers=bad)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decided_by"] == "link"


async def test_a_link_with_valid_credentials_names_the_caller(client: httpx.AsyncClient) -> None:
    body = await held(client)
    viewer = bearer(await login(client, "watcher"))  # the link decides; the credentials only name
    answer = await client.post(path_of(body["reject_url"]), headers=viewer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decided_by"] == "watcher"


async def test_credentialed_decisions(client: httpx.AsyncClient) -> None:
    body = await held(client)
    approve = unsigned(body["approve_url"])
    assert_error(await client.post(approve), 403, "invalid_signature")  # no sig, no credentials
    assert_error(
        await client.get(approve, headers=bearer(OPS)), 403, "invalid_signature"
    )  # GET needs the link
    assert_error(await client.post(approve, headers=bearer("tg_nope")), 401, "unauthorized")
    viewer = bearer(await login(client, "watcher"))
    assert_error(await client.post(approve, headers=viewer), 403, "forbidden")
    hidden = await client.post(approve, headers={"X-API-Key": FOREIGN})
    missing = await client.post(approve.replace(body["approval_id"], "00000000-0000-4000-8000-000000000000"))
    assert_error(hidden, 404, "not_found", f"approval not found: {body['approval_id']}")
    assert_error(missing, 403, "invalid_signature")
    answer = await client.post(approve, headers={"X-API-Key": OPS})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["decided_by"]) == ("approved", "ops")
    assert answer.json()["outcome"]["outcome"] == "executed"
    assert_error(await client.post(approve, headers={"X-API-Key": OPS}), 409, "approval_decided")


async def test_the_list_is_limited_to_the_callers_grants(client: httpx.AsyncClient) -> None:
    ours = await held(client, "acme")
    theirs = await held(client, "globex")
    assert_error(await client.get("/v1/approvals"), 401, "unauthorized")
    seen = (await client.get("/v1/approvals", params={"status": "all"}, headers=bearer(OPS))).json()
    ids = {approval["approval_id"] for approval in seen["approvals"]}
    assert ours["approval_id"] in ids and theirs["approval_id"] not in ids
    assert all(approval["tenant"] == "acme" for approval in seen["approvals"])
    assert seen["total"] == len(seen["approvals"])
    refused = await client.get("/v1/approvals", params={"tenant": "globex"}, headers=bearer(OPS))
    assert_error(refused, 403, "forbidden", "no grant covers tenant 'globex'")
    viewer = bearer(await login(client, "watcher"))
    everything = (await client.get("/v1/approvals", params={"status": "all"}, headers=viewer)).json()
    assert {ours["approval_id"], theirs["approval_id"]} <= {a["approval_id"] for a in everything["approvals"]}
