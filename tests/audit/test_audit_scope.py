"""Audit reads limited to a caller's grants (G3/G4), on every audit backend, plus the SQL builder."""

from __future__ import annotations

import pytest

from tests.audit.audit_samples import make_record
from tidegate.audit.base import AuditQuery, AuditStore
from tidegate.audit.scope import scope_sql
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import Grant

TENANTS = ["acme", "acme.eu", "acme.eu.paris", "acmecorp", "acme-eu", "acm", "globex"]


async def _seed(store: AuditStore) -> list[AuditRecord]:
    records = []
    for index, tenant in enumerate(TENANTS):
        for offset, namespace in enumerate(("alerts", "billing")):
            record = make_record(index * 10 + offset, tenant=tenant, namespace=namespace)
            await store.append(record)
            records.append(record)
    return records


def _pairs(records: list[AuditRecord]) -> set[tuple[str, str]]:
    return {(record.tenant, record.namespace) for record in records}


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (
            (Grant(tenants=("acme",)),),
            {(t, n) for t in ("acme", "acme.eu", "acme.eu.paris") for n in ("alerts", "billing")},
        ),
        (
            (Grant(tenants=("acme.eu",), namespaces=("alerts",)),),
            {("acme.eu", "alerts"), ("acme.eu.paris", "alerts")},
        ),
        (
            (
                Grant(tenants=("globex",), namespaces=("billing",)),
                Grant(tenants=("acm",), namespaces=("alerts",)),
            ),
            {("globex", "billing"), ("acm", "alerts")},
        ),
        ((Grant(tenants=("*",), namespaces=("billing",)),), {(t, "billing") for t in TENANTS}),
        ((), set()),
    ],
)
async def test_a_scoped_query_holds_and_counts_only_covered_records(
    audit_store: AuditStore, scope: tuple[Grant, ...], expected: set[tuple[str, str]]
) -> None:
    await _seed(audit_store)
    page = await audit_store.query(AuditQuery(scope=scope, limit=1000))
    assert _pairs(page.records) == expected
    assert page.total == len(expected)
    first = await audit_store.query(AuditQuery(scope=scope, limit=1))
    assert first.total == len(expected)  # counted, not just the page


async def test_a_wildcard_scope_reads_everything(audit_store: AuditStore) -> None:
    records = await _seed(audit_store)
    page = await audit_store.query(AuditQuery(scope=(Grant(tenants=("nobody",)), Grant()), limit=1000))
    assert page.total == len(records)


async def test_get_returns_the_newest_record_the_scope_covers(audit_store: AuditStore) -> None:
    mine = make_record(0, action_id="shared-id", tenant="acme")
    theirs = make_record(60, action_id="shared-id", tenant="globex")
    await audit_store.append(mine)
    await audit_store.append(theirs)
    assert await audit_store.get("shared-id") == theirs
    assert await audit_store.get("shared-id", (Grant(tenants=("acme",)),)) == mine
    assert await audit_store.get("shared-id", (Grant(tenants=("initech",)),)) is None
    assert await audit_store.get("shared-id", ()) is None


async def test_scope_combines_with_the_other_filters(audit_store: AuditStore) -> None:
    await _seed(audit_store)
    query = AuditQuery(tenant="acme.eu", namespace="billing", scope=(Grant(tenants=("acme",)),))
    page = await audit_store.query(query)
    assert _pairs(page.records) == {("acme.eu", "billing")}


def test_scope_sql_takes_no_placeholder_when_a_grant_covers_everything() -> None:
    params: list[object] = []

    def placeholder(value: object) -> str:
        params.append(value)
        return "?"

    def starts_with(column: str, prefix: str, take: object) -> str:
        return f"{column} LIKE {placeholder(prefix)}"

    assert scope_sql((Grant(tenants=("acme",)), Grant()), placeholder, starts_with) is None
    assert params == []
    assert scope_sql((), placeholder, starts_with) == "(1 = 0)"
