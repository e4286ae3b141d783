"""Grant matching, table-tested with the examples of security.md §4."""

from __future__ import annotations

import pytest

from tidegate.model.caller import AuthMethod, Caller, Grant, Role
from tidegate.stream.grants import caller_covers, caller_covers_everything, covers, tenant_matches


@pytest.mark.parametrize(
    ("pattern", "tenant", "expected"),
    [
        ("acme", "acme", True),
        ("acme", "acme.eu", True),
        ("acme", "acme.eu.paris", True),
        ("acme", "acmecorp", False),
        ("acme", "acme-eu", False),
        ("acme", "acm", False),
        ("acme.eu", "acme", False),
        ("acme.eu", "acme.eu", True),
        ("acme.eu", "acme.eu.paris", True),
        ("acme.eu", "acme.euro", False),
        ("acme", "acme.", True),
        ("*", "anything.at.all", True),
        ("acme", "xacme.eu", False),
    ],
)
def test_tenant_patterns_are_hierarchical(pattern: str, tenant: str, expected: bool) -> None:
    assert tenant_matches(pattern, tenant) is expected


SECURITY_TABLE = [
    (Grant(tenants=("*",)), True, True),
    (Grant(tenants=("acme",), namespaces=("alerts",)), True, False),
    (Grant(tenants=("acme.eu",), providers=("email",)), True, False),
    (Grant(tenants=("acme",), action_types=("page",)), False, True),
]


@pytest.mark.parametrize(("grant", "first", "second"), SECURITY_TABLE)
def test_security_md_table(grant: Grant, first: bool, second: bool) -> None:
    assert covers(grant, "acme.eu", "alerts", "email", "send") is first
    assert covers(grant, "acme", "billing", "sms", "page") is second


@pytest.mark.parametrize(
    ("grant", "args", "expected"),
    [
        # A dimension that is not given is not checked.
        (Grant(tenants=("acme",), action_types=("page",)), ("acme.eu", "alerts"), True),
        (Grant(tenants=("acme",), providers=("sms",)), ("acme", "alerts", None, "send"), True),
        (Grant(tenants=("acme",), namespaces=("alerts",)), ("acme",), True),
        # Exact or "*" for namespaces, providers, action types: no prefixes.
        (Grant(namespaces=("alerts",)), ("t", "alerts.eu"), False),
        (Grant(namespaces=("alerts", "billing")), ("t", "billing"), True),
        (Grant(providers=("email",)), ("t", "n", "email2"), False),
        (Grant(action_types=("*", "x")), ("t", "n", "p", "y"), True),
        (Grant(tenants=("a", "b.c")), ("b.c.d", "n"), True),
        (Grant(tenants=()), ("a", "n"), False),
    ],
)
def test_covers_dimensions(grant: Grant, args: tuple[str | None, ...], expected: bool) -> None:
    tenant, *rest = args
    assert tenant is not None
    assert covers(grant, tenant, *rest) is expected


def caller(*grants: Grant) -> Caller:
    return Caller("c", AuthMethod.API_KEY, Role.VIEWER, grants)


def test_one_single_grant_must_cover_every_dimension() -> None:
    split = caller(Grant(tenants=("a",), namespaces=("x",)), Grant(tenants=("b",), namespaces=("y",)))
    assert caller_covers(split, "a", "x")
    assert caller_covers(split, "b", "y")
    assert not caller_covers(split, "a", "y")
    assert not caller_covers(split, "b", "x")
    assert caller_covers(split, "a")  # a tenant alone (the stream's tenant filter, G2)


def test_caller_without_grants_covers_nothing() -> None:
    assert not caller_covers(caller(), "acme", "alerts")
    assert not caller_covers_everything(caller())


@pytest.mark.parametrize(
    ("grants", "expected"),
    [
        ((Grant(),), True),
        ((Grant(providers=("email",)),), True),  # the stream checks tenant and namespace only
        ((Grant(tenants=("acme",)),), False),
        ((Grant(namespaces=("alerts",)),), False),
        ((Grant(tenants=("acme",)), Grant(namespaces=("*",), tenants=("*", "x"))), True),
        ((Grant(tenants=("acme",)), Grant(namespaces=("alerts",))), False),
    ],
)
def test_caller_covers_everything(grants: tuple[Grant, ...], expected: bool) -> None:
    assert caller_covers_everything(caller(*grants)) is expected
