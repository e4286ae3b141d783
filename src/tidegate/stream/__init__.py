"""Live events: the event log every stream event is appended to, and (later) fan-out to subscribers."""

from tidegate.stream.log import EventLog, LocalEventLog

__all__ = ["EventLog", "LocalEventLog"]
