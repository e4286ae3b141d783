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
from tidegate.approvals import LinkKeys, SigningKey
from tidegate.clock import ManualClock
from tidegate.config import Settings
from tidegate.groups import group_key
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
#: A group the server fixture seeds (rule ``matrix-group``), and a key no group has.
GROUP_RULES = """\
rules:
  - name: matrix-group
    priority: 1
    condition: {field: action.action_type, eq: matrix_group}
    action: {type: group, group_by: [action_type], group_wait_seconds: 3600}
"""
GROUP_SEED = {**ACTION, "action_type": "matrix_group"}
SEEDED_GROUP = group_key("notifications", "tenant-1", "matrix-group", [("action_type", "matrix_group")])
NO_GROUP = "0" * 64
#: An event the server fixture seeds (rule ``matrix-event``, machine ``matrix``); its no-op move repeats.
EVENT_RULES = """\
rules:
  - name: matrix-event
    priority: 2
    condition: {field: action.action_type, eq: matrix_event}
    action: {type: state_machine, state_machine: matrix}
"""
MACHINES = [{"name": "matrix", "initial_state": "open", "states": ["open", "closed"]}]
EVENT_SEED = {**ACTION, "action_type": "matrix_event", "fingerprint": "matrix-event"}
EVENT_WHERE = {"namespace": "notifications", "tenant": "tenant-1"}
#: Approval links signed with the server's key for an approval that does not exist: the signature is the
#: credential, so every caller, with any credentials or none, gets the same 404 (api.md §7).
APPROVAL_KEYS = {"keys": [{"kid": "k1", "secret": "22" * 32}]}
NO_APPROVAL = "00000000-0000-4000-8000-000000000000"
_SIG = LinkKeys([SigningKey("k1", bytes.fromhex("22" * 32))]).sign(
    "notifications", "tenant-1", NO_APPROVAL, 4102444800
)
APPROVAL_LINK = {"sig": _SIG[1], "expires_at": "4102444800", "kid": _SIG[0]}
APPROVAL_PATH = f"/v1/approvals/notifications/tenant-1/{NO_APPROVAL}"


#: A recurring action to create, and an id no action has.
RECURRING_SEED = {**EVENT_WHERE, "provider": "log", "action_type": "matrix_recurring", "cron_expr": "@hourly"}
NO_RECURRING = "00000000-0000-4000-8000-0000000000aa"


#: A chain id no run has (api.md §9).
NO_CHAIN = "00000000-0000-4000-8000-0000000000cc"
CHAIN_MISSING = f"chain not found: {NO_CHAIN}"


def _recurring(suffix: str = "", recurring_id: str = NO_RECURRING, **fields: object) -> Sample:
    return Sample(
        f"/v1/recurring/{recurring_id}{suffix}",
        params=EVENT_WHERE,
        missing=f"recurring action not found: {recurring_id}",
        **fields,  # type: ignore[arg-type]
    )


def _signed(suffix: str = "") -> Sample:
    return Sample(
        APPROVAL_PATH + suffix, ok=404, params=APPROVAL_LINK, missing=f"approval not found: {NO_APPROVAL}"
    )


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
    missing: str = f"audit record not found: {SEEDED}"  # the 404 message of a foreign (or missing) entity


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
    ("GET", "/v1/groups"): Sample(),
    ("GET", "/v1/groups/{group_key}"): Sample(
        f"/v1/groups/{SEEDED_GROUP}", missing=f"group not found: {SEEDED_GROUP}"
    ),
    # A flush closes the group, so the matrix flushes one that does not exist: 404 once allowed.
    ("DELETE", "/v1/groups/{group_key}"): Sample(
        f"/v1/groups/{NO_GROUP}", ok=404, missing=f"group not found: {NO_GROUP}"
    ),
    ("GET", "/v1/events"): Sample(),
    ("GET", "/v1/events/{fingerprint}"): Sample(
        "/v1/events/matrix-event", params=EVENT_WHERE, missing="event not found: matrix-event"
    ),
    ("PUT", "/v1/events/{fingerprint}/transition"): Sample(
        "/v1/events/matrix-event/transition",
        {"to_state": "open", **EVENT_WHERE},
        missing="event not found: matrix-event",
    ),
    ("GET", "/v1/approvals"): Sample(),
    ("GET", "/v1/approvals/{namespace}/{tenant}/{approval_id}"): _signed(),
    ("GET", "/v1/approvals/{namespace}/{tenant}/{approval_id}/approve"): _signed("/approve"),
    ("GET", "/v1/approvals/{namespace}/{tenant}/{approval_id}/reject"): _signed("/reject"),
    ("POST", "/v1/approvals/{namespace}/{tenant}/{approval_id}/approve"): _signed("/approve"),
    ("POST", "/v1/approvals/{namespace}/{tenant}/{approval_id}/reject"): _signed("/reject"),
    ("POST", "/v1/auth/login"): Sample(json={"username": "root", "password": PASSWORD}),
    ("POST", "/v1/auth/logout"): Sample(),
    ("POST", "/v1/recurring"): Sample(json=RECURRING_SEED, ok=201),
    ("GET", "/v1/recurring"): Sample(params={"namespace": "notifications", "tenant": "other"}),
    # A real action would change under the cells (pause, delete): the entity routes use a missing id.
    ("GET", "/v1/recurring/{recurring_id}"): _recurring(ok=404),
    ("PUT", "/v1/recurring/{recurring_id}"): _recurring(ok=404, json={"description": "matrix"}),
    ("DELETE", "/v1/recurring/{recurring_id}"): _recurring(ok=404),
    ("POST", "/v1/recurring/{recurring_id}/pause"): _recurring("/pause", ok=404),
    ("POST", "/v1/recurring/{recurring_id}/resume"): _recurring("/resume", ok=404),
    ("GET", "/v1/chains"): Sample(),
    ("GET", "/v1/chains/{chain_id}"): Sample(f"/v1/chains/{NO_CHAIN}", ok=404, missing=CHAIN_MISSING),
    ("POST", "/v1/chains/{chain_id}/cancel"): Sample(
        f"/v1/chains/{NO_CHAIN}/cancel", ok=404, missing=CHAIN_MISSING
    ),
    ("GET", "/v1/executions/{execution_id}/history"): Sample(
        f"/v1/executions/{NO_CHAIN}/history", ok=404, missing=CHAIN_MISSING
    ),
    ("GET", "/v1/executions/{execution_id}/events"): Sample(
        f"/v1/executions/{NO_CHAIN}/events", ok=404, missing=CHAIN_MISSING
    ),
    ("GET", "/v1/chains/{chain_id}/events"): Sample(
        f"/v1/chains/{NO_CHAIN}/events", ok=404, missing=CHAIN_MISSING
    ),
    ("GET", "/v1/chains/definitions"): Sample(),
    ("GET", "/v1/chains/definitions/{name}"): Sample(
        "/v1/chains/definitions/nope", ok=404, missing="chain definition not found: nope"
    ),
    ("PUT", "/v1/chains/definitions/{name}"): Sample("/v1/chains/definitions/nope", {"steps": []}, ok=422),
    ("DELETE", "/v1/chains/definitions/{name}"): Sample(
        "/v1/chains/definitions/nope", ok=404, missing="chain definition not found: nope"
    ),
    ("GET", "/admin/circuit-breakers"): Sample(),
    ("POST", "/v1/embeddings/similarity"): Sample(json={"text": "disk almost full", "topic": "storage"}),
    # Tripping a real breaker would reject the other samples' dispatches: trip one that does not exist.
    ("POST", "/admin/circuit-breakers/{provider}/trip"): Sample(
        "/admin/circuit-breakers/nope/trip", ok=404, missing="circuit breaker not found: nope"
    ),
    ("POST", "/admin/circuit-breakers/{provider}/reset"): Sample("/admin/circuit-breakers/log/reset"),
    ("GET", "/docs"): Sample(),
    ("GET", "/docs/assets/{file}"): Sample("/docs/assets/swagger-ui.css"),
    ("GET", "/openapi.json"): Sample(),
    ("GET", "/ui"): Sample(),
    ("GET", "/ui/assets/{file}"): Sample("/ui/assets/dashboard.js"),
}


ROUTES = served_routes(create_app(Settings()).routes)


def expected_status(rule: RouteRule, cell: Cell, sample: Sample) -> int:
    ok = sample.ok
    if rule.permission in (Permission.PUBLIC, Permission.SIGNED):
        return ok  # credentials are never read, not even bad ones (a signed link is its own credential)
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
    directory = tmp_path_factory.mktemp("matrix")
    settings = auth_settings(
        directory,
        IDENTITIES,
        auth={"watch": False},
        state_machines=MACHINES,
        approvals=APPROVAL_KEYS,
        circuit_breaker={"enabled": True},
        embedding={"enabled": True},  # the local model; each caller sends 1 of its 5 similarity requests
    )
    (directory / "rules" / "20-groups.yaml").write_text(GROUP_RULES)
    (directory / "rules" / "30-events.yaml").write_text(EVENT_RULES)
    with serving(settings, clock=clock) as url:
        response = httpx.post(
            f"{url}/v1/dispatch", json={**ACTION, "id": SEEDED}, headers=bearer("tg_ops-key")
        )
        assert response.status_code == 200, response.text
        grouped = httpx.post(f"{url}/v1/dispatch", json=GROUP_SEED, headers=bearer("tg_ops-key")).json()
        assert grouped["group_key"] == SEEDED_GROUP, grouped
        event = httpx.post(f"{url}/v1/dispatch", json=EVENT_SEED, headers=bearer("tg_ops-key")).json()
        assert event["outcome"] == "state_changed", event
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
            assert_error(response, 404, "not_found", sample.missing)
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
