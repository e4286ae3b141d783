"""The authorization matrix (api.md §1, security.md §3-§5): every route the app serves, for every kind of
caller, answers the status the spec gives, on a real server with authentication on.

The routes come from the application's own route table, so a new route fails here until it has a sample
request below (and, through ``create_app``, an entry in the permission table). Expectations come from the
spec's rules, not from the code under test: no credentials or a bad, expired or revoked token is 401;
a viewer may not dispatch or manage (403); a caller whose grants cover another tenant gets 403 when it
would create actions in this one (G1) and 404 for this tenant's entities (G3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from enum import Enum

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.api.app import create_app
from tidegate.api.deps import check_route_table, served_routes
from tidegate.clock import ManualClock
from tidegate.config import Settings
from tidegate.security.permissions import GrantRule, Permission, RouteRule, route_rule

from .auth_support import PASSWORD, Identity, auth_settings, bearer, expired_token, login
from .conftest import ACTION

IDENTITIES = [
    Identity("root", "admin"),  # no grants key: the implicit wildcard
    Identity("watcher", "viewer", grants=[{"tenants": ["*"]}]),
    Identity("ops", "operator", grants=[{"tenants": ["*"]}], key="tg_ops-key"),
    Identity("outsider", "operator", grants=[{"tenants": ["other"]}], key="tg_outsider-key"),
]
SEEDED = "matrix-seed"


class Cell(Enum):
    NONE = "no credentials"
    MALFORMED = "malformed token"
    EXPIRED = "expired token"
    REVOKED = "revoked token"
    VIEWER = "viewer (JWT)"
    OPERATOR = "operator (API key as Bearer, the SDK's form)"
    ADMIN = "admin (JWT)"
    FOREIGN = "operator key of another tenant (X-API-Key)"


#: The 401 message of each unauthenticated cell (security.md §3).
UNAUTHENTICATED = {
    Cell.NONE: "missing credentials",
    Cell.MALFORMED: "invalid token",
    Cell.EXPIRED: "token expired",
    Cell.REVOKED: "token revoked",
}
#: api.md §1.1: what a viewer lacks.
VIEWER_LACKS = {Permission.DISPATCH, Permission.MANAGE}


@dataclass(frozen=True)
class Sample:
    """One request to the route; ``ok`` is the status of an allowed caller."""

    path: str | None = None
    json: object = None
    ok: int = 200
    stream: bool = False
    params: dict[str, str] = field(default_factory=dict)
    per_item: bool = False  # G1 fails per item, inside a 200 (a batch)


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/health"): Sample(),
    ("GET", "/metrics"): Sample(),
    ("GET", "/metrics/prometheus"): Sample(),
    ("POST", "/v1/dispatch"): Sample(json=ACTION),
    ("POST", "/v1/dispatch/batch"): Sample(json={"actions": [ACTION]}, per_item=True),
    ("POST", "/v1/dispatch/stream"): Sample(json=ACTION, stream=True),
    ("GET", "/v1/stream"): Sample(stream=True),
    ("GET", "/v1/rules"): Sample(),
    ("POST", "/v1/rules/reload"): Sample(),
    ("PUT", "/v1/rules/{name}/enabled"): Sample("/v1/rules/block-spam/enabled", {"enabled": True}),
    ("GET", "/v1/audit"): Sample(),
    ("GET", "/v1/audit/{action_id}"): Sample(f"/v1/audit/{SEEDED}"),
    ("POST", "/v1/auth/login"): Sample(json={"username": "root", "password": PASSWORD}),
    ("POST", "/v1/auth/logout"): Sample(),
    ("GET", "/docs"): Sample(),
    ("GET", "/docs/assets/{file}"): Sample("/docs/assets/swagger-ui.css"),
    ("GET", "/openapi.json"): Sample(),
}


ROUTES = served_routes(create_app(Settings()).routes)


def expected_status(rule: RouteRule, cell: Cell, sample: Sample) -> int:
    ok = sample.ok
    if rule.permission is Permission.PUBLIC:
        return ok  # credentials are never read, not even bad ones
    if cell in UNAUTHENTICATED:
        return 401
    if rule.permission is Permission.AUTHENTICATED:  # logout: a login session, not an API key
        return 200 if cell in (Cell.VIEWER, Cell.ADMIN) else 400
    if cell is Cell.VIEWER and rule.permission in VIEWER_LACKS:
        return 403
    if cell is Cell.FOREIGN and rule.grant is GrantRule.CREATE:
        return ok if sample.per_item else 403
    if cell is Cell.FOREIGN and rule.grant is GrantRule.ENTITY:
        return 404
    return ok


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[str]:
    settings = auth_settings(tmp_path_factory.mktemp("matrix"), IDENTITIES, auth={"watch": False})
    with serving(settings, clock=clock) as url:
        response = httpx.post(
            f"{url}/v1/dispatch", json={**ACTION, "id": SEEDED}, headers=bearer("tg_ops-key")
        )
        assert response.status_code == 200, response.text
        yield url


@pytest.fixture
async def credentials(
    client: httpx.AsyncClient, clock: ManualClock
) -> AsyncIterator[dict[Cell, dict[str, str]]]:
    """Fresh headers per test: logout cells revoke the tokens they use."""
    revoked = await login(client, "root")
    assert (await client.post("/v1/auth/logout", headers=bearer(revoked))).status_code == 200
    yield {
        Cell.NONE: {},
        Cell.MALFORMED: bearer("abc.def.ghi"),
        Cell.EXPIRED: bearer(expired_token("root", clock.now())),
        Cell.REVOKED: bearer(revoked),
        Cell.VIEWER: bearer(await login(client, "watcher")),
        Cell.OPERATOR: bearer("tg_ops-key"),
        Cell.ADMIN: bearer(await login(client, "root")),
        Cell.FOREIGN: {"X-API-Key": "tg_outsider-key"},
    }


async def _send(
    client: httpx.AsyncClient, method: str, sample: Sample, path: str, headers: dict[str, str]
) -> httpx.Response:
    request = client.build_request(
        method, sample.path or path, json=sample.json, params=sample.params, headers=headers
    )
    response = await client.send(request, stream=sample.stream)
    if sample.stream and response.status_code == 200:
        await response.aclose()  # the stream itself is tested elsewhere; leaving frees the slot
    else:
        await response.aread()
    return response


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_route_for_every_caller(
    client: httpx.AsyncClient, credentials: dict[Cell, dict[str, str]], method: str, path: str
) -> None:
    sample = SAMPLES.get((method, path))
    assert sample is not None, f"new route {method} {path}: add a sample request (and check its permission)"
    rule = route_rule(method, path)
    assert rule is not None
    for cell, headers in credentials.items():
        response = await _send(client, method, sample, path, headers)
        status = expected_status(rule, cell, sample)
        assert response.status_code == status, (cell.value, response.text)
        if status == 401:
            assert_error(response, 401, "unauthorized", UNAUTHENTICATED[cell])
            assert response.headers["www-authenticate"] == "Bearer"
        elif status == 403:
            assert_error(response, 403, "forbidden")
        elif status == 404:
            assert_error(response, 404, "not_found", f"audit record not found: {SEEDED}")
        elif status == 400:
            assert_error(response, 400, "bad_request")
        elif sample.per_item and cell is Cell.FOREIGN:
            assert [item["error"]["code"] for item in response.json()["results"]] == ["forbidden"]


async def test_a_scoped_caller_lists_only_its_tenants(client: httpx.AsyncClient) -> None:
    foreign = {"X-API-Key": "tg_outsider-key"}
    body = (await client.get("/v1/audit", headers=foreign)).json()
    assert (body["records"], body["total"]) == ([], 0)
    everything = (await client.get("/v1/audit", headers=bearer("tg_ops-key"))).json()
    assert everything["total"] >= 1
    refused = await client.get("/v1/audit", params={"tenant": "tenant-1"}, headers=foreign)
    assert_error(refused, 403, "forbidden", "no grant covers tenant 'tenant-1'")


async def test_a_foreign_entity_answers_exactly_like_a_missing_one(client: httpx.AsyncClient) -> None:
    foreign = {"X-API-Key": "tg_outsider-key"}
    hidden = await client.get(f"/v1/audit/{SEEDED}", headers=foreign)
    missing = await client.get("/v1/audit/never-dispatched", headers=foreign)
    hidden_body = assert_error(hidden, 404, "not_found", f"audit record not found: {SEEDED}")
    missing_body = assert_error(missing, 404, "not_found", "audit record not found: never-dispatched")
    assert set(hidden.headers) == set(missing.headers)
    assert [k for k in hidden_body if k not in ("message", "detail", "correlation_id", "timestamp")] == [
        k for k in missing_body if k not in ("message", "detail", "correlation_id", "timestamp")
    ]


async def test_a_body_over_the_limit_is_413_before_the_role_check(client: httpx.AsyncClient) -> None:
    viewer = bearer(await login(client, "watcher"))
    big = b'{"x":"' + b"a" * (1024 * 1024) + b'"}'
    for path in ("/v1/dispatch", "/v1/dispatch/stream"):
        response = await client.post(
            path, content=big, headers={**viewer, "Content-Type": "application/json"}
        )
        assert_error(response, 413, "payload_too_large")
    small = await client.post("/v1/dispatch", json=ACTION, headers=viewer)
    assert_error(small, 403, "forbidden", "role 'viewer' lacks the 'dispatch' permission")
    reload = await client.post("/v1/rules/reload", content=big, headers=viewer)  # takes no body
    assert_error(reload, 403, "forbidden")


def test_an_app_with_an_unlisted_route_refuses_to_start() -> None:
    async def endpoint() -> None: ...

    with pytest.raises(RuntimeError, match="GET /v1/secret"):
        check_route_table([APIRoute("/v1/secret", endpoint, methods=["GET"])])


def test_the_sample_table_names_only_served_routes() -> None:
    assert len(ROUTES) >= 17  # the included routers were walked, not just the top level
    assert set(SAMPLES) <= set(ROUTES)
    assert all(route_rule(*route) is not None for route in ROUTES)
