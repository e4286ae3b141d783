"""One recurring action as stored and as answered (api.md §12 ``Recurring``), and its fired action."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson

from tidegate.model.action import Action
from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts, parse_ts

__all__ = ["RecurringAction"]

_TIMES = ("next_execution", "last_executed_at", "ends_at", "created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class RecurringAction:
    recurring_id: str
    namespace: str
    tenant: str
    cron_expr: str
    timezone: str
    enabled: bool
    provider: str
    action_type: str
    payload: JsonValue
    metadata: dict[str, str]
    dedup_key: str | None
    description: str | None
    next_execution: datetime | None
    last_executed_at: datetime | None
    execution_count: int
    ends_at: datetime | None
    max_executions: int | None
    created_at: datetime
    updated_at: datetime

    def replace(self, **changes: Any) -> RecurringAction:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> JsonObject:
        """The wire ``Recurring``, in api.md §12 key order, times in the README format."""
        body: JsonObject = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _TIMES:
                body[field.name] = None if value is None else format_ts(value)
            elif field.name == "metadata":
                body[field.name] = dict(value)
            else:
                body[field.name] = value
        return body

    def encode(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def decode(cls, raw: bytes) -> RecurringAction:
        data = cast(dict[str, Any], orjson.loads(raw))
        for name in _TIMES:
            if data[name] is not None:
                data[name] = parse_ts(data[name])
        return cls(**data)

    def fired_action(self, action_id: str, occurrence: datetime, now: datetime) -> Action:
        """The action one fire dispatches (features.md §17 step 2)."""
        dedup_key = None
        if self.dedup_key is not None:
            dedup_key = self.dedup_key.replace("{{recurring_id}}", self.recurring_id).replace(
                "{{execution_time}}", format_ts(occurrence)
            )
        return Action(
            id=action_id,
            namespace=self.namespace,
            tenant=self.tenant,
            provider=self.provider,
            action_type=self.action_type,
            payload=self.payload,
            dedup_key=dedup_key,
            metadata={**self.metadata, "recurring_id": self.recurring_id},
            created_at=now,
        )
