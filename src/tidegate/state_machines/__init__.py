"""Stateful events driven by configured state machines (features.md §14, D11): pure transition decisions
(``table``), the event records in the state store (``repository``), and the feature that moves events on
dispatch, on timeout and through the REST API (``feature``)."""

from tidegate.state_machines.feature import TIMEOUT_INDEX, StateMachines, Transitioned
from tidegate.state_machines.fingerprint import fingerprint_of
from tidegate.state_machines.notification import NOTIFICATION_ACTION_TYPE, state_notification
from tidegate.state_machines.record import EventRecord, TimerRef, Trigger
from tidegate.state_machines.repository import EventStates
from tidegate.state_machines.table import Move, decide, decide_rest, decide_timeout, timeout_at

__all__ = [
    "NOTIFICATION_ACTION_TYPE",
    "TIMEOUT_INDEX",
    "EventRecord",
    "EventStates",
    "Move",
    "StateMachines",
    "TimerRef",
    "Transitioned",
    "Trigger",
    "decide",
    "decide_rest",
    "decide_timeout",
    "fingerprint_of",
    "state_notification",
    "timeout_at",
]
