"""Audit records for tests, and the audit-store backends under test."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.postgres.pg_support import open_postgres_audit_store
from tidegate.audit.base import AuditStore
from tidegate.audit.memory import MemoryAuditStore
from tidegate.audit.sqlite import SqliteAuditStore
from tidegate.model.audit import AuditRecord

AUDIT_BACKENDS = ["memory", "sqlite", "postgres"]

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)

_ids = itertools.count(1)


def make_record(seconds: float = 0, **changes: object) -> AuditRecord:
    """A complete record dispatched ``seconds`` after T0; ids sort in creation order."""
    n = next(_ids)
    dispatched_at = T0 + timedelta(seconds=seconds)
    record = AuditRecord(
        id=f"019c3882-0000-7000-8000-{n:012d}",
        action_id=f"action-{n}",
        chain_id=None,
        namespace="notifications",
        tenant="tenant-1",
        provider="email",
        action_type="send_email",
        verdict="allow",
        matched_rule=None,
        outcome="executed",
        outcome_details={"response": {"status": "success"}},
        action_payload={"to": "x@example.com", "n": n, "nested": [1, {"é": None}]},
        metadata={"priority": "low"},
        dedup_key=None,
        fingerprint=None,
        status=None,
        starts_at=None,
        ends_at=None,
        trace_context={},
        caller_id="team-key",
        auth_method="api_key",
        dispatched_at=dispatched_at,
        completed_at=dispatched_at + timedelta(microseconds=333),
        expires_at=dispatched_at + timedelta(days=30),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


async def build_audit_store(backend: str, tmp_path: Path) -> AuditStore:
    store: AuditStore
    if backend == "memory":
        store = MemoryAuditStore()
    elif backend == "sqlite":
        store = SqliteAuditStore(tmp_path / "audit" / "audit.db")
    elif backend == "postgres":
        return await open_postgres_audit_store()
    else:
        raise ValueError(f"unknown backend {backend}")
    await store.open()
    return store
