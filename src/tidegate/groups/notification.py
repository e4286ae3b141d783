"""The group notification (features.md §13): the internal action one flush dispatches. Pure.

It keeps the group's namespace and tenant (security.md §5: no path out of a tenant), goes to the rule's
``notify_provider`` or else the first event's provider, and carries every flushed event's payload."""

from __future__ import annotations

from datetime import datetime

from tidegate.groups.record import Flush, Group
from tidegate.model.action import Action
from tidegate.model.json import JsonObject
from tidegate.model.time import format_ts

__all__ = ["NOTIFICATION_TYPE", "notification_action", "notification_payload", "notification_text"]

NOTIFICATION_TYPE = "group_notification"


def notification_text(event_count: int, labels: dict[str, str]) -> str:
    """``3 events grouped by metadata.cluster=eu-1, metadata.severity=high``."""
    noun = "event" if event_count == 1 else "events"
    pairs = ", ".join(f"{name}={value}" for name, value in labels.items())
    return f"{event_count} {noun} grouped by {pairs}"


def notification_payload(group: Group, flush: Flush) -> JsonObject:
    """The payload of features.md §13, in its key order."""
    count = len(flush.events)
    return {
        "group_id": group.group_id,
        "group_key": group.group_key,
        "rule": group.rule,
        "labels": dict(group.labels),
        "event_count": count,
        "repeat": flush.repeat,
        "flush_count": flush.flush_count,
        "flushed_at": format_ts(flush.flushed_at),
        "text": notification_text(count, group.labels),
        "events": [member.to_json() for member in flush.events],
    }


def notification_action(group: Group, flush: Flush, action_id: str, now: datetime) -> Action:
    """The action dispatched for ``flush``, labelled with the group's id and key."""
    return Action(
        id=action_id,
        namespace=group.namespace,
        tenant=group.tenant,
        provider=group.settings.notify_provider or group.provider,
        action_type=NOTIFICATION_TYPE,
        payload=notification_payload(group, flush),
        metadata={"group_id": group.group_id, "group_key": group.group_key},
        created_at=now,
    )
