"""Grant matching (security.md §4): the one ``covers`` function every endpoint and the stream use.

Tenant patterns are hierarchical (``acme`` covers ``acme`` and ``acme.eu``, never ``acmecorp``); the other
dimensions match exactly or with ``"*"``. A caller covers a request only when one single grant covers every
dimension: grants are never combined."""

from __future__ import annotations

from tidegate.model.caller import Caller, Grant

__all__ = ["caller_covers", "caller_covers_everything", "covers", "tenant_matches"]

WILDCARD = "*"


def tenant_matches(pattern: str, tenant: str) -> bool:
    """``pattern`` is ``*``, the tenant itself, or an ancestor of it (``acme`` for ``acme.eu.paris``)."""
    if pattern in (WILDCARD, tenant):
        return True
    size = len(pattern)
    return len(tenant) > size and tenant[size] == "." and tenant.startswith(pattern)


def _exact(patterns: tuple[str, ...], value: str) -> bool:
    return WILDCARD in patterns or value in patterns


def covers(
    grant: Grant,
    tenant: str,
    namespace: str | None = None,
    provider: str | None = None,
    action_type: str | None = None,
) -> bool:
    """True when every given dimension matches; a ``None`` dimension is not checked.

    Creating actions checks all four (G1); reading and the stream check tenant and namespace; a stream
    ``tenant`` filter checks the tenant alone (G2)."""
    if not any(tenant_matches(pattern, tenant) for pattern in grant.tenants):
        return False
    if namespace is not None and not _exact(grant.namespaces, namespace):
        return False
    if provider is not None and not _exact(grant.providers, provider):
        return False
    return action_type is None or _exact(grant.action_types, action_type)


def caller_covers(
    caller: Caller,
    tenant: str,
    namespace: str | None = None,
    provider: str | None = None,
    action_type: str | None = None,
) -> bool:
    """One single grant of the caller covers every given dimension."""
    return any(covers(grant, tenant, namespace, provider, action_type) for grant in caller.grants)


def caller_covers_everything(caller: Caller) -> bool:
    """Some grant has ``*`` for both tenant and namespace: the caller sees every stream event.

    Lets the broadcaster skip the per-event isolation check for admin (wildcard) subscribers."""
    return any(WILDCARD in grant.tenants and WILDCARD in grant.namespaces for grant in caller.grants)
