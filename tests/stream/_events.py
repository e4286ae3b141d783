"""Small builders for stream events used across the stream tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from tidegate.model.event import EventType, StreamEvent
from tidegate.model.json import JsonObject, JsonValue

T0 = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
_serial = itertools.count(1)


def event_id(n: int) -> str:
    return f"019c3882-89c8-7b22-8e11-{n:012d}"


def make_event(
    kind: EventType = EventType.GROUP_FLUSHED,
    *,
    tenant: str = "acme",
    namespace: str = "alerts",
    fields: JsonObject | None = None,
    action_type: str | None = None,
    action_id: str | None = None,
    when: datetime = T0,
    n: int | None = None,
) -> StreamEvent:
    return StreamEvent(
        id=event_id(next(_serial) if n is None else n),
        timestamp=when,
        type=kind,
        namespace=namespace,
        tenant=tenant,
        fields=fields if fields is not None else {"group_id": "g", "event_count": 1},
        action_type=action_type,
        action_id=action_id,
    )


def dispatched(
    outcome: JsonValue, *, tenant: str = "acme", namespace: str = "alerts", action_type: str = "send"
) -> StreamEvent:
    return make_event(
        EventType.ACTION_DISPATCHED,
        tenant=tenant,
        namespace=namespace,
        fields={"outcome": outcome, "provider": "email"},
        action_type=action_type,
        action_id="a1",
    )
