"""The audit record of api.md §5.1: one per pipeline run that produced an outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts, parse_ts

__all__ = ["AUDIT_OUTCOMES", "AuditRecord"]

#: Values of the ``outcome`` field (and of the ``outcome`` query filter).
AUDIT_OUTCOMES: tuple[str, ...] = (
    "executed",
    "deduplicated",
    "suppressed",
    "rerouted",
    "throttled",
    "failed",
    "grouped",
    "pending_approval",
    "state_changed",
    "chain_started",
    "circuit_open",
    "approval_rejected",
    "approval_expired",
)

_TIMESTAMPS = ("starts_at", "ends_at", "dispatched_at", "completed_at", "expires_at")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    action_id: str
    namespace: str
    tenant: str
    provider: str
    action_type: str
    verdict: str
    matched_rule: str | None
    outcome: str
    outcome_details: JsonObject
    action_payload: JsonValue
    dispatched_at: datetime
    completed_at: datetime
    caller_id: str
    auth_method: str
    chain_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    dedup_key: str | None = None
    fingerprint: str | None = None
    status: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    trace_context: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None

    @property
    def duration_ms(self) -> int:
        return int((self.completed_at - self.dispatched_at).total_seconds() * 1000)

    def to_json(self) -> JsonObject:
        """The wire form, keys in the order of api.md §5.1."""
        return cast(JsonObject, self._wire(format_ts))

    def encode(self) -> bytes:
        """``to_json`` as compact JSON bytes, for stores; orjson writes the timestamps (faster).

        orjson writes an aware UTC datetime as ``format_ts`` does, except that it drops a zero fraction:
        those (and any other zone) are formatted here."""
        return orjson.dumps(self._wire(_native_ts), option=orjson.OPT_UTC_Z)

    def _wire(self, ts: Callable[[datetime], object]) -> dict[str, object]:
        return {
            "id": self.id,
            "action_id": self.action_id,
            "chain_id": self.chain_id,
            "namespace": self.namespace,
            "tenant": self.tenant,
            "provider": self.provider,
            "action_type": self.action_type,
            "verdict": self.verdict,
            "matched_rule": self.matched_rule,
            "outcome": self.outcome,
            "outcome_details": self.outcome_details,
            "action_payload": self.action_payload,
            "metadata": dict(self.metadata),
            "dedup_key": self.dedup_key,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "starts_at": None if self.starts_at is None else ts(self.starts_at),
            "ends_at": None if self.ends_at is None else ts(self.ends_at),
            "trace_context": dict(self.trace_context),
            "caller_id": self.caller_id,
            "auth_method": self.auth_method,
            "dispatched_at": ts(self.dispatched_at),
            "completed_at": ts(self.completed_at),
            "duration_ms": self.duration_ms,
            "expires_at": None if self.expires_at is None else ts(self.expires_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditRecord:
        """Inverse of ``to_json`` (``duration_ms`` is derived, so it is dropped)."""
        values = {k: v for k, v in data.items() if k != "duration_ms"}
        for key in _TIMESTAMPS:
            if values.get(key) is not None:
                values[key] = parse_ts(values[key])
        return cls(**values)


def _native_ts(when: datetime) -> object:
    return when if when.microsecond and when.tzinfo is UTC else format_ts(when)
