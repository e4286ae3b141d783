"""The approval record and its lifecycle (features.md §15, api.md §7): pure values and decisions, no I/O.

``pending`` is the only state that moves: to ``approved`` or ``rejected`` by a decision, or to ``expired``
once ``expires_at`` has passed. ``gate`` names which answer a request about an approval gets, in the check
order of api.md §7 (decided before expired), so every caller applies the same order."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

import orjson

from tidegate.model.action import Action
from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts, parse_ts

__all__ = ["LINK", "Approval", "ApprovalStatus", "Decision", "Gate", "action_from_json", "gate"]

#: ``decided_by`` of a decision made through a signed link without credentials (api.md §7).
LINK = "link"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Decision(StrEnum):
    """A decision and the status it leads to."""

    APPROVE = "approved"
    REJECT = "rejected"


class Gate(Enum):
    """What a request may do with an approval now (api.md §7 checks 3 and 4)."""

    OPEN = "open"  # pending and not yet expired: a decision may be taken
    DECIDED = "decided"  # approved or rejected: 409
    EXPIRED = "expired"  # already marked expired: 410
    LAPSED = "lapsed"  # still pending but past expires_at: mark it expired, then 410


@dataclass(frozen=True, slots=True)
class Approval:
    """One approval. ``action`` is the action as the approval rule saw it (earlier modify patches
    applied); ``received_payload`` is the payload as received when a patch changed it (the audit keeps
    that one); ``outcome`` is the REST body of the approved execution."""

    approval_id: str
    action: Action
    rule: str
    message: str | None
    created_at: datetime
    expires_at: datetime
    requested_by: str
    notify_provider: str
    status: ApprovalStatus = ApprovalStatus.PENDING
    notification_sent: bool = False
    decided_at: datetime | None = None
    decided_by: str | None = None
    received_payload: JsonValue = None
    payload_modified: bool = False
    outcome: JsonObject | None = None

    @property
    def namespace(self) -> str:
        return self.action.namespace

    @property
    def tenant(self) -> str:
        return self.action.tenant

    @property
    def expires_at_unix(self) -> int:
        return int(self.expires_at.timestamp())

    @property
    def received(self) -> Action:
        """The action as it was dispatched, for the audit record (api.md §5.1 ``action_payload``)."""
        return self.action.replace(payload=self.received_payload) if self.payload_modified else self.action

    def decided(self, decision: Decision, now: datetime, by: str) -> Approval:
        return dataclasses.replace(self, status=ApprovalStatus(decision.value), decided_at=now, decided_by=by)

    def expired(self) -> Approval:
        """Nobody decided: ``decided_at`` and ``decided_by`` stay null (choice)."""
        return dataclasses.replace(self, status=ApprovalStatus.EXPIRED)

    def to_json(self) -> JsonObject:
        """The ``Approval`` object of api.md §7: never the signature, the URLs or the payload."""
        return {
            "approval_id": self.approval_id,
            "namespace": self.namespace,
            "tenant": self.tenant,
            "action_id": self.action.id,
            "action_type": self.action.action_type,
            "provider": self.action.provider,
            "rule": self.rule,
            "message": self.message,
            "status": self.status.value,
            "notification_sent": self.notification_sent,
            "created_at": format_ts(self.created_at),
            "expires_at": format_ts(self.expires_at),
            "decided_at": None if self.decided_at is None else format_ts(self.decided_at),
            "decided_by": self.decided_by,
        }

    def encode(self) -> bytes:
        """The stored form: the API object plus what the service needs to carry the action out."""
        stored = self.to_json()
        stored.update(
            action=self.action.to_json(),
            requested_by=self.requested_by,
            notify_provider=self.notify_provider,
            outcome=self.outcome,
        )
        if self.payload_modified:
            stored["received_payload"] = self.received_payload
        return orjson.dumps(stored)

    @classmethod
    def decode(cls, raw: bytes) -> Approval:
        data: dict[str, Any] = orjson.loads(raw)
        decided_at = data.get("decided_at")
        return cls(
            approval_id=data["approval_id"],
            action=Action.from_json(data["action"]),
            rule=data["rule"],
            message=data.get("message"),
            created_at=parse_ts(data["created_at"]),
            expires_at=parse_ts(data["expires_at"]),
            requested_by=data["requested_by"],
            notify_provider=data["notify_provider"],
            status=ApprovalStatus(data["status"]),
            notification_sent=bool(data.get("notification_sent")),
            decided_at=None if decided_at is None else parse_ts(decided_at),
            decided_by=data.get("decided_by"),
            received_payload=data.get("received_payload"),
            payload_modified="received_payload" in data,
            outcome=data.get("outcome"),
        )


def gate(approval: Approval, now: datetime) -> Gate:
    """Checks 3 and 4 of api.md §7, in that order: a decided approval reports its decision even when its
    link has also expired. ``now`` at or past ``expires_at`` counts as expired (the expiry timer fires
    at ``expires_at``, so both paths agree on the instant)."""
    if approval.status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED):
        return Gate.DECIDED
    if approval.status is ApprovalStatus.EXPIRED:
        return Gate.EXPIRED
    if now >= approval.expires_at:
        return Gate.LAPSED
    return Gate.OPEN


action_from_json = Action.from_json
"""The stored action of an approval (kept under its old name; ``Action.from_json`` is the one decoder)."""
