"""Stream events (stream.md §1.3-1.4): the envelope every event type shares, encoded once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts

__all__ = ["EventType", "StreamEvent"]


class EventType(StrEnum):
    ACTION_DISPATCHED = "action_dispatched"
    GROUP_FLUSHED = "group_flushed"
    TIMEOUT = "timeout"
    CHAIN_ADVANCED = "chain_advanced"
    APPROVAL_REQUIRED = "approval_required"
    GROUP_EVENT_ADDED = "group_event_added"
    ACTION_STATUS_CHANGED = "action_status_changed"
    APPROVAL_RESOLVED = "approval_resolved"
    CHAIN_STEP_COMPLETED = "chain_step_completed"
    CHAIN_COMPLETED = "chain_completed"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event; ``fields`` are the type's own fields in spec order, already sanitized.

    ``action_type`` and ``action_id`` are omitted from the JSON when ``None`` (stream.md §1.3)."""

    id: str
    timestamp: datetime
    type: EventType
    namespace: str
    tenant: str
    fields: JsonObject = field(default_factory=dict)
    action_type: str | None = None
    action_id: str | None = None

    def to_json(self) -> JsonObject:
        data: dict[str, JsonValue] = {
            "id": self.id,
            "timestamp": format_ts(self.timestamp),
            "type": self.type.value,
        }
        data.update(self.fields)
        data["namespace"] = self.namespace
        data["tenant"] = self.tenant
        if self.action_type is not None:
            data["action_type"] = self.action_type
        if self.action_id is not None:
            data["action_id"] = self.action_id
        return data
