"""Building stream events (stream.md §1.3-§1.4): the one constructor every feature uses.

Groups, state machines, approvals and chains call ``new_event`` and hand the results, in order, to the
recorder or the event log. The table below is the spec's: each type's own fields in their wire order and
whether ``action_type`` / ``action_id`` must, may or must not be present. A mismatch is a programming
error and raises ``ValueError`` at once, so no event with a missing or misplaced field reaches a client."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum

from tidegate.model.event import EventType, StreamEvent
from tidegate.model.ids import new_id
from tidegate.model.json import JsonValue
from tidegate.model.time import format_ts

__all__ = ["EVENT_FIELDS", "new_event"]


class _Scope(Enum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    OMITTED = "omitted"


_R, _O, _X = _Scope.REQUIRED, _Scope.OPTIONAL, _Scope.OMITTED

#: type -> (own fields in order, action_type rule, action_id rule), from the table of §1.4.
_TABLE: dict[EventType, tuple[tuple[str, ...], _Scope, _Scope]] = {
    EventType.ACTION_DISPATCHED: (("outcome", "provider"), _R, _R),
    EventType.GROUP_FLUSHED: (("group_id", "event_count"), _X, _X),
    EventType.TIMEOUT: (("fingerprint", "state_machine", "previous_state", "new_state"), _O, _X),
    EventType.CHAIN_ADVANCED: (
        ("chain_id", "chain_name", "step_name", "step_index", "step_status", "attempt"),
        _X,
        _X,
    ),
    EventType.APPROVAL_REQUIRED: (("approval_id", "rule", "expires_at"), _R, _R),
    EventType.GROUP_EVENT_ADDED: (("group_id", "group_key", "event_count"), _R, _R),
    EventType.ACTION_STATUS_CHANGED: (
        ("fingerprint", "state_machine", "previous_status", "new_status"),
        _O,
        _O,
    ),
    EventType.APPROVAL_RESOLVED: (("approval_id", "decision"), _R, _R),
    EventType.CHAIN_STEP_COMPLETED: (("chain_id", "step_name", "step_index", "success", "next_step"), _X, _X),
    EventType.CHAIN_COMPLETED: (("chain_id", "status", "execution_path"), _X, _X),
}

#: Each event type's own fields, in wire order.
EVENT_FIELDS: dict[EventType, tuple[str, ...]] = {kind: row[0] for kind, row in _TABLE.items()}


def _check_scope(kind: EventType, name: str, value: str | None, rule: _Scope) -> None:
    if rule is _Scope.REQUIRED and value is None:
        raise ValueError(f"{kind.value} events need {name}")
    if rule is _Scope.OMITTED and value is not None:
        raise ValueError(f"{kind.value} events have no {name}")


def new_event(
    event_type: EventType,
    *,
    namespace: str,
    tenant: str,
    fields: Mapping[str, JsonValue | datetime],
    now: datetime,
    action_type: str | None = None,
    action_id: str | None = None,
) -> StreamEvent:
    """A new event with a UUIDv7 id, stamped ``now``, its fields put in the order of §1.4.

    ``fields`` must hold exactly the type's own fields (``next_step`` may be ``None`` but is never left
    out); datetimes are written as README timestamps. Raises ValueError on any mismatch."""
    names, type_rule, id_rule = _TABLE[event_type]
    if set(fields) != set(names):
        missing = [name for name in names if name not in fields]
        extra = sorted(name for name in fields if name not in names)
        raise ValueError(f"{event_type.value} fields: missing {missing}, unexpected {extra}")
    _check_scope(event_type, "action_type", action_type, type_rule)
    _check_scope(event_type, "action_id", action_id, id_rule)
    ordered: dict[str, JsonValue] = {}
    for name in names:
        value = fields[name]
        ordered[name] = format_ts(value) if isinstance(value, datetime) else value
    return StreamEvent(
        id=new_id(),
        timestamp=now,
        type=event_type,
        namespace=namespace,
        tenant=tenant,
        fields=ordered,
        action_type=action_type,
        action_id=action_id,
    )
