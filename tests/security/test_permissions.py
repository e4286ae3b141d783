"""The permission table (api.md §1.1, §1.3; security.md §4): pure lookups."""

from __future__ import annotations

import pytest

from tidegate.model.caller import Role
from tidegate.security.permissions import (
    ROUTES,
    GrantRule,
    Permission,
    role_allows,
    route_key,
    route_rule,
    unlisted_routes,
)

P = Permission


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, {P.READ, P.STREAM_SUBSCRIBE, P.DISPATCH, P.MANAGE}),
        (Role.OPERATOR, {P.READ, P.STREAM_SUBSCRIBE, P.DISPATCH, P.MANAGE}),
        (Role.VIEWER, {P.READ, P.STREAM_SUBSCRIBE}),
    ],
)
def test_role_table(role: Role, allowed: set[Permission]) -> None:
    for permission in (P.READ, P.STREAM_SUBSCRIBE, P.DISPATCH, P.MANAGE):
        assert role_allows(role, permission) is (permission in allowed), permission
    for open_permission in (P.PUBLIC, P.SIGNED, P.AUTHENTICATED):
        assert role_allows(role, open_permission)


def test_route_keys_ignore_parameter_names_and_serve_head_as_get() -> None:
    assert route_key("HEAD", "/v1/audit/{action_id}") == ("GET", "/v1/audit/{}")
    assert route_key("GET", "/docs/assets/{file:path}") == ("GET", "/docs/assets/{}")
    assert route_rule("GET", "/v1/approvals/{namespace}/{tenant}/{id}") == route_rule(
        "GET", "/v1/approvals/{ns}/{t}/{approval_id}"
    )


@pytest.mark.parametrize(
    ("method", "path", "permission", "grant"),
    [
        ("POST", "/v1/dispatch", P.DISPATCH, GrantRule.CREATE),
        ("POST", "/v1/dispatch/batch", P.DISPATCH, GrantRule.CREATE),
        ("GET", "/v1/audit", P.READ, GrantRule.LIST),
        ("GET", "/v1/audit/{id}", P.READ, GrantRule.ENTITY),
        ("PUT", "/v1/rules/{name}/enabled", P.MANAGE, GrantRule.NONE),
        ("DELETE", "/v1/groups/{key}", P.DISPATCH, GrantRule.ENTITY),
        ("POST", "/v1/chains/{id}/cancel", P.MANAGE, GrantRule.ENTITY),
        ("GET", "/v1/executions/{id}/events", P.STREAM_SUBSCRIBE, GrantRule.ENTITY),
        ("POST", "/admin/circuit-breakers/{p}/trip", P.MANAGE, GrantRule.NONE),
        ("POST", "/v1/recurring/{id}/pause", P.DISPATCH, GrantRule.ENTITY),
        ("POST", "/v1/approvals/{a}/{b}/{c}/approve", P.SIGNED, GrantRule.NONE),
        ("POST", "/v1/auth/logout", P.AUTHENTICATED, GrantRule.NONE),
        ("GET", "/metrics/prometheus", P.PUBLIC, GrantRule.NONE),
        ("GET", "/v1/stream", P.STREAM_SUBSCRIBE, GrantRule.EVENTS),
    ],
)
def test_spec_rows(method: str, path: str, permission: Permission, grant: GrantRule) -> None:
    rule = route_rule(method, path)
    assert rule is not None
    assert (rule.permission, rule.grant) == (permission, grant)


def test_every_body_endpoint_is_marked() -> None:
    with_body = {key for key, rule in ROUTES.items() if rule.takes_body}
    assert with_body == {
        ("POST", "/v1/dispatch"),
        ("POST", "/v1/dispatch/batch"),
        ("POST", "/v1/dispatch/stream"),
        ("PUT", "/v1/rules/{}/enabled"),
        ("PUT", "/v1/events/{}/transition"),
        ("PUT", "/v1/chains/definitions/{}"),
        ("POST", "/v1/embeddings/similarity"),
        ("POST", "/v1/recurring"),
        ("PUT", "/v1/recurring/{}"),
        ("POST", "/v1/auth/login"),
    }


def test_unlisted_routes_are_named() -> None:
    assert unlisted_routes([("GET", "/health"), ("POST", "/v1/secret"), ("HEAD", "/v1/secret")]) == [
        "GET /v1/secret",
        "POST /v1/secret",
    ]
