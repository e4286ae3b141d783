"""Wire shapes of the group endpoints (api.md §8), described for the OpenAPI document
(``schemas.DOC_MODELS``); the handlers build their bodies from ``groups.Group``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from tidegate.model.json import JsonValue

__all__ = ["GROUP_MODELS", "GroupDetail", "GroupFlushResult", "GroupList", "GroupSummary"]

#: The notification's dispatch body, by reference (``schemas`` imports this module, not the reverse).
_Notification = Annotated[
    dict[str, JsonValue] | None,
    WithJsonSchema({"anyOf": [{"$ref": "#/components/schemas/DispatchOutcome"}, {"type": "null"}]}),
]


class GroupSummary(BaseModel):
    group_id: str
    group_key: str = Field(description="SHA-256 hex of namespace, tenant, rule and the group_by values")
    namespace: str
    tenant: str
    state: Literal["pending", "notified"]
    event_count: int = Field(description="the batch: pending events, or a notified group's last flush")
    labels: dict[str, str] = Field(description="each group_by field and its value from the first event")
    notify_at: datetime = Field(description="the next flush, reminder or close")
    created_at: datetime
    updated_at: datetime


class GroupList(BaseModel):
    groups: list[GroupSummary]
    count: int
    total: int
    limit: int
    offset: int


class GroupEvent(BaseModel):
    action_id: str
    fingerprint: str | None
    status: str | None
    payload: JsonValue
    received_at: datetime


class GroupDetail(BaseModel):
    group: GroupSummary
    events: list[GroupEvent] = Field(description="the batch's events, oldest first")


class GroupFlushResult(BaseModel):
    group_id: str
    group_key: str
    event_count: int = Field(description="events flushed now (0 when the group was only closed)")
    status: Literal["flushed", "closed"]
    notified: bool = Field(description="the notification's outcome is executed or rerouted")
    notification: _Notification = Field(description="the notification's dispatch body, or null")


GROUP_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (GroupList, "serialization"),
    (GroupDetail, "serialization"),
    (GroupFlushResult, "serialization"),
]
