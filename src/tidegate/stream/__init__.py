"""Live events: the event log every stream event is appended to, and its fan-out to subscribers."""

from tidegate.stream.broadcaster import Broadcaster, Subscription
from tidegate.stream.connections import Bucket, ConnectionSlots, LocalConnectionSlots, Slot, connection_bucket
from tidegate.stream.emit import EVENT_FIELDS, new_event
from tidegate.stream.filters import InvalidFilter, StreamFilter, visible
from tidegate.stream.grants import caller_covers, caller_covers_everything, covers, tenant_matches
from tidegate.stream.log import Entry, EventLog, LocalEventLog, Position, ReplayPage
from tidegate.stream.shared_slots import StoreConnectionSlots, connection_slots_for

__all__ = [
    "EVENT_FIELDS",
    "Broadcaster",
    "Bucket",
    "ConnectionSlots",
    "Entry",
    "EventLog",
    "InvalidFilter",
    "LocalConnectionSlots",
    "LocalEventLog",
    "Position",
    "ReplayPage",
    "Slot",
    "StoreConnectionSlots",
    "StreamFilter",
    "Subscription",
    "caller_covers",
    "caller_covers_everything",
    "connection_bucket",
    "connection_slots_for",
    "covers",
    "new_event",
    "tenant_matches",
    "visible",
]
