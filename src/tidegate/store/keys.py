"""Every state-store key is built here: ``{namespace}:{tenant}:{kind}:{id}``, components escaped.

Identifiers may contain ``:`` (README), so each component escapes ``%`` and ``:``; distinct
(namespace, tenant) pairs can therefore never produce the same key (security.md §8)."""

from __future__ import annotations

import hashlib

__all__ = [
    "approval",
    "approval_signing_key",
    "approvals_prefix",
    "breaker",
    "chain_definition",
    "chain_definitions_prefix",
    "chain_lease",
    "chain_run",
    "chain_runs_prefix",
    "connection_slots",
    "dedup",
    "escape",
    "event_state",
    "event_states",
    "global_key",
    "group",
    "groups_prefix",
    "login_failures",
    "rate_counter",
    "rate_log",
    "recurring",
    "recurring_fire",
    "recurring_prefix",
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


def breaker(provider: str) -> str:
    """One provider's circuit breaker record, shared by every instance (features.md §10)."""
    return global_key("breaker", provider)


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


def rate_counter(scope: str, ident: str, window_seconds: int, index: int) -> str:
    """One fixed window's count of a caller or tenant rate limit (security.md §9), cluster-wide.

    The window length is part of the key, so a changed limit never reads counts of another length; the
    identifier comes last, so whatever it contains the key stays unambiguous."""
    return global_key(f"rate-{scope}", f"{window_seconds}/{index}/{ident}")


def rate_log(scope: str, ident: str) -> str:
    """The recent request times of a sliding-log limit, e.g. embedding similarity per caller (api.md §10)."""
    return global_key(f"rate-log-{scope}", ident)


def event_state(namespace: str, tenant: str, fingerprint: str) -> str:
    """One state-machine event (features.md §14), kind first: ``GET /v1/events`` lists across tenants,
    so every tenant's events must share one key range (``event_states``)."""
    return global_key("event-state", f"{escape(namespace)}:{escape(tenant)}:{escape(fingerprint)}")


def event_states(namespace: str | None = None, tenant: str | None = None) -> str:
    """The key prefix of every event, of one namespace's, or of one (namespace, tenant)'s.

    ``escape`` maps character by character, so the prefix of the inner text escapes to a prefix of the key."""
    inner = ""
    if namespace is not None:
        inner = escape(namespace) + ":"
        if tenant is not None:
            inner += escape(tenant) + ":"
    return global_key("event-state", inner)


def approval(namespace: str, tenant: str, approval_id: str) -> str:
    """One approval record (features.md §15).

    Kind first, with the scope inside the escaped identifier, so one prefix scan lists every tenant's
    approvals (GET /v1/approvals) while distinct (namespace, tenant) pairs still never collide."""
    return global_key("approval", f"{escape(namespace)}:{escape(tenant)}:{approval_id}")


def approvals_prefix() -> str:
    """The prefix of every approval record (``approval`` keys)."""
    return global_key("approval", "")


def approval_signing_key(kid: str) -> str:
    """The generated approval signing key, shared by every instance when config lists none (config.md §4.11).

    Kept without expiry: links it signed must verify after restarts."""
    return global_key("approval-signing-key", kid)


def group(group_key: str) -> str:
    """One event group (features.md §13), found by its key alone: ``GET /v1/groups/{group_key}`` names no
    tenant, and the key hashes namespace and tenant in, so it is unique across tenants. Kind first, so one
    prefix scan lists every tenant's groups (``groups_prefix``)."""
    return global_key("group", group_key)


def groups_prefix() -> str:
    """The prefix of every group record (``group`` keys)."""
    return global_key("group", "")


def recurring(recurring_id: str) -> str:
    """One recurring action (features.md §17), found by its id alone; kind first, so one prefix scan lists
    every tenant's (``recurring_prefix``) for the list endpoint and the per-tenant cap."""
    return global_key("recurring", recurring_id)


def recurring_prefix() -> str:
    return global_key("recurring", "")


def recurring_fire(recurring_id: str, occurrence_micros: int) -> str:
    """The permanent claim of one occurrence: exactly one instance fires it, even after a crash."""
    return global_key("recurring-fire", f"{recurring_id}|{occurrence_micros}")


def chain_run(chain_id: str) -> str:
    """One chain run with its history (features.md §16), found by its id alone; kind first, so one prefix
    scan lists every tenant's runs (``chain_runs_prefix``)."""
    return global_key("chain-run", chain_id)


def chain_runs_prefix() -> str:
    return global_key("chain-run", "")


def chain_lease(chain_id: str, start: int) -> str:
    """The lease of one step attempt (the run's ``start``-th): exactly one instance starts it, and a
    crashed holder's lease lapses so another instance starts the next attempt (features.md §16 step 6)."""
    return global_key("chain-lease", f"{chain_id}|{start}")


def chain_definition(name: str) -> str:
    """A chain definition created through the API (api.md §9), visible to every instance."""
    return global_key("chain-definition", name)


def chain_definitions_prefix() -> str:
    return global_key("chain-definition", "")
