"""Pipeline outcomes and their three JSON forms: REST body (api.md §3.3), stream (stream.md §1.6), audit.

Each outcome is a frozen value; ``fields()`` gives the REST fields after ``outcome`` in spec order. The
stream form is sanitized here, once, so no unsanitized copy can reach the event log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, TypeAlias

from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts

__all__ = [
    "OUTCOME_CATEGORIES",
    "ActionError",
    "ChainStarted",
    "CircuitOpen",
    "Deduplicated",
    "DryRun",
    "Executed",
    "Failed",
    "Grouped",
    "Outcome",
    "PendingApproval",
    "ProviderResponse",
    "Rerouted",
    "StateChanged",
    "Suppressed",
    "Throttled",
    "audit_details",
    "rest_body",
    "stream_outcome",
]

ResponseStatus = Literal["success", "failure", "partial"]
REDACTED_URL = "[redacted]"


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    status: ResponseStatus
    body: JsonValue = None
    headers: dict[str, str] | None = None

    def to_json(self) -> JsonObject:
        return {"status": self.status, "body": self.body, "headers": dict(self.headers or {})}

    def sanitized(self) -> JsonObject:
        return {"status": self.status, "body": None, "headers": {}}


@dataclass(frozen=True, slots=True)
class ActionError:
    """A provider failure after the executor's retries (api.md §3.3 ``failed.error``)."""

    code: str
    message: str
    retryable: bool
    attempts: int

    def to_json(self) -> JsonObject:
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "attempts": self.attempts,
        }


class _Outcome:
    __slots__ = ()
    category: ClassVar[str]
    tag: ClassVar[str]

    def fields(self) -> JsonObject:
        raise NotImplementedError

    def stream_value(self) -> JsonValue:
        return self.fields()

    def audit_value(self) -> JsonObject:
        return self.fields()


@dataclass(frozen=True, slots=True)
class Executed(_Outcome):
    category: ClassVar[str] = "executed"
    tag: ClassVar[str] = "Executed"
    response: ProviderResponse

    def fields(self) -> JsonObject:
        return {"response": self.response.to_json()}

    def stream_value(self) -> JsonValue:
        return self.response.sanitized()

    def audit_value(self) -> JsonObject:
        return {"response": {"status": self.response.status}}


@dataclass(frozen=True, slots=True)
class Deduplicated(_Outcome):
    category: ClassVar[str] = "deduplicated"
    tag: ClassVar[str] = "Deduplicated"
    dedup_key: str
    original_action_id: str | None

    def fields(self) -> JsonObject:
        return {"dedup_key": self.dedup_key, "original_action_id": self.original_action_id}


@dataclass(frozen=True, slots=True)
class Suppressed(_Outcome):
    category: ClassVar[str] = "suppressed"
    tag: ClassVar[str] = "Suppressed"
    rule: str

    def fields(self) -> JsonObject:
        return {"rule": self.rule}


@dataclass(frozen=True, slots=True)
class Rerouted(_Outcome):
    category: ClassVar[str] = "rerouted"
    tag: ClassVar[str] = "Rerouted"
    original_provider: str
    new_provider: str
    response: ProviderResponse

    def fields(self) -> JsonObject:
        return {
            "original_provider": self.original_provider,
            "new_provider": self.new_provider,
            "response": self.response.to_json(),
        }

    def stream_value(self) -> JsonValue:
        return {**self.fields(), "response": self.response.sanitized()}

    def audit_value(self) -> JsonObject:
        return {**self.fields(), "response": {"status": self.response.status}}


@dataclass(frozen=True, slots=True)
class Throttled(_Outcome):
    category: ClassVar[str] = "throttled"
    tag: ClassVar[str] = "Throttled"
    rule: str
    retry_after_seconds: int

    def fields(self) -> JsonObject:
        return {"rule": self.rule, "retry_after_seconds": self.retry_after_seconds}

    def stream_value(self) -> JsonValue:
        return {"retry_after": {"secs": self.retry_after_seconds, "nanos": 0}}


@dataclass(frozen=True, slots=True)
class Failed(_Outcome):
    category: ClassVar[str] = "failed"
    tag: ClassVar[str] = "Failed"
    error: ActionError

    def fields(self) -> JsonObject:
        return {"error": self.error.to_json()}

    def stream_value(self) -> JsonValue:
        return self.error.to_json()


@dataclass(frozen=True, slots=True)
class Grouped(_Outcome):
    category: ClassVar[str] = "grouped"
    tag: ClassVar[str] = "Grouped"
    group_id: str
    group_key: str
    group_size: int
    notify_at: datetime

    def fields(self) -> JsonObject:
        return {
            "group_id": self.group_id,
            "group_key": self.group_key,
            "group_size": self.group_size,
            "notify_at": format_ts(self.notify_at),
        }


@dataclass(frozen=True, slots=True)
class StateChanged(_Outcome):
    category: ClassVar[str] = "state_changed"
    tag: ClassVar[str] = "StateChanged"
    fingerprint: str
    previous_state: str
    new_state: str
    notify: bool
    transition_allowed: bool

    def fields(self) -> JsonObject:
        return {
            "fingerprint": self.fingerprint,
            "previous_state": self.previous_state,
            "new_state": self.new_state,
            "notify": self.notify,
            "transition_allowed": self.transition_allowed,
        }


@dataclass(frozen=True, slots=True)
class PendingApproval(_Outcome):
    category: ClassVar[str] = "pending_approval"
    tag: ClassVar[str] = "PendingApproval"
    approval_id: str
    expires_at: datetime
    approve_url: str
    reject_url: str
    notification_sent: bool

    def fields(self) -> JsonObject:
        return {
            "approval_id": self.approval_id,
            "expires_at": format_ts(self.expires_at),
            "approve_url": self.approve_url,
            "reject_url": self.reject_url,
            "notification_sent": self.notification_sent,
        }

    def stream_value(self) -> JsonValue:
        return {**self.fields(), "approve_url": REDACTED_URL, "reject_url": REDACTED_URL}

    def audit_value(self) -> JsonObject:
        details = self.fields()
        del details["approve_url"], details["reject_url"]
        return details


@dataclass(frozen=True, slots=True)
class ChainStarted(_Outcome):
    category: ClassVar[str] = "chain_started"
    tag: ClassVar[str] = "ChainStarted"
    chain_id: str
    chain_name: str
    total_steps: int
    first_step: str

    def fields(self) -> JsonObject:
        return {
            "chain_id": self.chain_id,
            "chain_name": self.chain_name,
            "total_steps": self.total_steps,
            "first_step": self.first_step,
        }


@dataclass(frozen=True, slots=True)
class CircuitOpen(_Outcome):
    category: ClassVar[str] = "circuit_open"
    tag: ClassVar[str] = "CircuitOpen"
    provider: str
    fallback_chain: tuple[str, ...] = ()

    def fields(self) -> JsonObject:
        return {"provider": self.provider, "fallback_chain": list(self.fallback_chain)}


@dataclass(frozen=True, slots=True)
class DryRun(_Outcome):
    category: ClassVar[str] = "dry_run"
    tag: ClassVar[str] = "DryRun"
    verdict: str
    matched_rule: str | None
    would_be_provider: str

    def fields(self) -> JsonObject:
        return {
            "verdict": self.verdict,
            "matched_rule": self.matched_rule,
            "would_be_provider": self.would_be_provider,
        }


Outcome: TypeAlias = (
    Executed
    | Deduplicated
    | Suppressed
    | Rerouted
    | Throttled
    | Failed
    | Grouped
    | StateChanged
    | PendingApproval
    | ChainStarted
    | CircuitOpen
    | DryRun
)

#: The 11 categories a real dispatch can end in, in the order of the /metrics counters.
OUTCOME_CATEGORIES: tuple[str, ...] = (
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
)


def rest_body(action_id: str, outcome: Outcome) -> JsonObject:
    """The /v1/dispatch 200 body: ``action_id``, ``outcome``, then the category's fields (D1)."""
    return {"action_id": action_id, "outcome": outcome.category, **outcome.fields()}


def stream_outcome(outcome: Outcome) -> JsonValue:
    """The externally tagged, sanitized form of stream.md §1.6 (``Deduplicated`` is a bare string)."""
    if isinstance(outcome, Deduplicated):
        return outcome.tag
    return {outcome.tag: outcome.stream_value()}


def audit_details(outcome: Outcome) -> JsonObject:
    """``outcome_details`` of the audit record: responses reduced to their status, no approval URLs."""
    return outcome.audit_value()
