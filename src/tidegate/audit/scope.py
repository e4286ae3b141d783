"""Restricting audit reads to a caller's grants (G3/G4), as SQL for the database stores and as a predicate.

A record is in scope when one grant covers its (tenant, namespace), with the single ``covers`` rule:
a tenant pattern matches the tenant itself and every tenant below it (``acme`` matches ``acme.eu``), a
namespace pattern matches exactly, ``*`` matches anything. The SQL is built from the same rule; each
backend supplies how to write "starts with" so the tenant index can serve it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tidegate.model.audit import AuditRecord
from tidegate.model.caller import Grant
from tidegate.stream.grants import WILDCARD, covers

__all__ = ["in_scope", "scope_sql"]

#: ``placeholder(value)`` records a parameter and returns its SQL placeholder.
Placeholder = Callable[[object], str]
#: ``starts_with(column, prefix, placeholder)``: SQL true when ``column`` starts with ``prefix``.
StartsWith = Callable[[str, str, Placeholder], str]


def in_scope(record: AuditRecord, scope: Sequence[Grant] | None) -> bool:
    return scope is None or any(covers(grant, record.tenant, record.namespace) for grant in scope)


def scope_sql(scope: Sequence[Grant], placeholder: Placeholder, starts_with: StartsWith) -> str | None:
    """A condition selecting the rows in scope, or None when some grant covers everything.

    No grant at all selects nothing (an operator or viewer without grants sees no tenant data)."""
    if any(WILDCARD in grant.tenants and WILDCARD in grant.namespaces for grant in scope):
        return None  # decided before any placeholder is taken, so no parameter is left unused
    alternatives = []
    for grant in scope:
        parts = []
        if WILDCARD not in grant.tenants:
            tenants = []
            for pattern in grant.tenants:
                tenants.append(f"tenant = {placeholder(pattern)}")
                tenants.append(starts_with("tenant", pattern + ".", placeholder))
            parts.append(f"({' OR '.join(tenants)})")
        if WILDCARD not in grant.namespaces:
            names = ", ".join(placeholder(name) for name in grant.namespaces)
            parts.append(f"namespace IN ({names})")
        alternatives.append(f"({' AND '.join(parts)})")
    return f"({' OR '.join(alternatives)})" if alternatives else "(1 = 0)"
