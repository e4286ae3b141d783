"""The stream events of a move (stream.md §1.4): ``action_status_changed``, and ``timeout`` after a timeout.

Both carry the event's own namespace and tenant and its last action type; only a dispatch that caused
the move gives an ``action_id``. Pure."""

from __future__ import annotations

from datetime import datetime

from tidegate.model.event import EventType, StreamEvent
from tidegate.state_machines.record import EventRecord
from tidegate.state_machines.table import Move
from tidegate.stream.emit import new_event

__all__ = ["status_changed", "timed_out"]


def status_changed(record: EventRecord, move: Move, now: datetime, action_id: str | None) -> StreamEvent:
    return new_event(
        EventType.ACTION_STATUS_CHANGED,
        namespace=record.namespace,
        tenant=record.tenant,
        fields={
            "fingerprint": record.fingerprint,
            "state_machine": record.state_machine,
            "previous_status": move.previous,
            "new_status": move.new,
        },
        now=now,
        action_type=record.action_type,
        action_id=action_id,
    )


def timed_out(record: EventRecord, move: Move, now: datetime) -> StreamEvent:
    return new_event(
        EventType.TIMEOUT,
        namespace=record.namespace,
        tenant=record.tenant,
        fields={
            "fingerprint": record.fingerprint,
            "state_machine": record.state_machine,
            "previous_state": move.previous,
            "new_state": move.new,
        },
        now=now,
        action_type=record.action_type,
    )
