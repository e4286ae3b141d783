"""The state notification (features.md §14): the internal action a notifying move dispatches. Pure."""

from __future__ import annotations

from datetime import datetime

from tidegate.model.action import Action
from tidegate.model.ids import new_id
from tidegate.state_machines.record import EventRecord, Trigger
from tidegate.state_machines.table import Move

__all__ = ["NOTIFICATION_ACTION_TYPE", "state_notification"]

NOTIFICATION_ACTION_TYPE = "state_notification"


def state_notification(
    record: EventRecord, move: Move, trigger: Trigger, action_id: str | None, provider: str, now: datetime
) -> Action:
    """The notification of ``move`` on the event ``record`` (after the move), to the machine's provider."""
    text = (
        f"event {record.fingerprint} ({record.state_machine}) moved from {move.previous} to {move.new} "
        f"by {trigger.value}"
    )
    return Action(
        id=new_id(),
        namespace=record.namespace,
        tenant=record.tenant,
        provider=provider,
        action_type=NOTIFICATION_ACTION_TYPE,
        payload={
            "fingerprint": record.fingerprint,
            "state_machine": record.state_machine,
            "previous_state": move.previous,
            "new_state": move.new,
            "trigger": trigger.value,
            "action_id": action_id,
            "text": text,
        },
        created_at=now,
    )
