"""Wire and domain types: actions, verdicts, outcomes, audit records, stream events."""

from tidegate.model.action import Action, ActionRequest
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import ANONYMOUS, SYSTEM, AuthMethod, Caller, Grant, Role
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.outcome import Outcome
from tidegate.model.verdict import Verdict, VerdictKind

__all__ = [
    "ANONYMOUS",
    "SYSTEM",
    "Action",
    "ActionRequest",
    "AuditRecord",
    "AuthMethod",
    "Caller",
    "EventType",
    "Grant",
    "JsonObject",
    "JsonValue",
    "Outcome",
    "Role",
    "StreamEvent",
    "Verdict",
    "VerdictKind",
]
