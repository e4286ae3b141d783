"""Every state-store key is built here: ``{namespace}:{tenant}:{kind}:{id}``, components escaped.

Identifiers may contain ``:`` (README), so each component escapes ``%`` and ``:``; distinct
(namespace, tenant) pairs can therefore never produce the same key (security.md §8)."""

from __future__ import annotations

import hashlib

__all__ = [
    "connection_slots",
    "dedup",
    "escape",
    "global_key",
    "login_failures",
    "rule_toggles",
    "rules_generation",
    "scoped",
    "session",
    "throttle",
    "timer_claim",
]


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


def rules_generation() -> str:
    """Bumped by every reload on any instance; the others reload when it moves (rules.md §11)."""
    return global_key("rules", "generation")


def connection_slots(bucket: str) -> str:
    """The SSE connection slots of one bucket, cluster-wide (stream.md §0.6)."""
    return global_key("sse-slots", bucket)


def session(jti: str) -> str:
    """A login session, ``jti -> username``: an allow-list, so logout is one delete (security.md §3)."""
    return global_key("session", jti)


def login_failures(username: str) -> str:
    """Recent failed logins of one username (api.md §13), whether or not the user exists.

    Keyed by the username's SHA-256: people type passwords into the username field, and what was typed
    must not be stored (or logged by a driver) in clear."""
    return global_key("login-failures", hashlib.sha256(username.encode()).hexdigest())


def timer_claim(index: str, member: str) -> str:
    """The lease that lets one instance fire a timer member (``workers/timers.py``)."""
    return global_key("timer-claim", f"{index}|{member}")
