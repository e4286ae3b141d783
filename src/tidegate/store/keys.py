"""Every state-store key is built here: ``{namespace}:{tenant}:{kind}:{id}``, components escaped.

Identifiers may contain ``:`` (README), so each component escapes ``%`` and ``:``; distinct
(namespace, tenant) pairs can therefore never produce the same key (security.md §8)."""

from __future__ import annotations

__all__ = ["dedup", "escape", "global_key", "rule_toggles", "scoped", "throttle"]


def escape(component: str) -> str:
    return component.replace("%", "%25").replace(":", "%3A")


def scoped(namespace: str, tenant: str, kind: str, ident: str) -> str:
    return f"{escape(namespace)}:{escape(tenant)}:{kind}:{escape(ident)}"


def global_key(kind: str, ident: str) -> str:
    """Keys that belong to no tenant (rule toggles, breakers, leases) live under the ``_`` scope."""
    return f"_:_:{kind}:{escape(ident)}"


def dedup(namespace: str, tenant: str, dedup_key: str) -> str:
    return scoped(namespace, tenant, "dedup", dedup_key)


def throttle(namespace: str, tenant: str, rule: str, key_hash: str, window_start: int) -> str:
    return scoped(namespace, tenant, "throttle", f"{rule}/{key_hash}/{window_start}")


def rule_toggles() -> str:
    return global_key("rules", "toggles")
