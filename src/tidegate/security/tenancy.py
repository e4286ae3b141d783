"""The grant rules G1-G4 of api.md §1.2 as checks an endpoint calls; each one uses the single ``covers``.

G1 (creating actions) checks all four dimensions; reads check tenant and namespace only (security.md §4).
Messages name only what the request itself named, never another tenant or whether data exists."""

from __future__ import annotations

from tidegate.errors import Forbidden
from tidegate.model.caller import ANONYMOUS, Caller, Grant
from tidegate.stream.grants import caller_covers, caller_covers_everything

__all__ = ["ensure_creates", "ensure_lists_tenant", "read_scope", "sees"]


def ensure_creates(caller: Caller, tenant: str, namespace: str, provider: str, action_type: str) -> None:
    """G1: one grant covers (tenant, namespace, provider, action_type), else 403."""
    if caller is ANONYMOUS or caller_covers(caller, tenant, namespace, provider, action_type):
        return
    raise Forbidden(
        f"no grant covers tenant '{tenant}', namespace '{namespace}', provider '{provider}' "
        f"and action type '{action_type}'"
    )


def ensure_lists_tenant(caller: Caller, tenant: str | None) -> None:
    """G2: a list that names a tenant no grant covers gets 403 (about grants, never about data)."""
    if tenant is not None and not caller_covers(caller, tenant):
        raise Forbidden(f"no grant covers tenant '{tenant}'")


def read_scope(caller: Caller) -> tuple[Grant, ...] | None:
    """G4: the grants a list is restricted to, or None when the caller sees every tenant and namespace."""
    return None if caller_covers_everything(caller) else caller.grants


def sees(caller: Caller, tenant: str, namespace: str) -> bool:
    """G3: an entity in (tenant, namespace) is visible; otherwise answer exactly as for a missing one."""
    return caller_covers(caller, tenant, namespace)
