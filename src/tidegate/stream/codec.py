"""How a shared event log stores an event: the exact ``data`` JSON of its ``/v1/stream`` frame.

Storing the bytes ``encode_event`` would write lets a reader rebuild the frame by concatenation, with no
re-encoding, on every instance; the JSON is decoded once per instance to get the ``StreamEvent`` back
for isolation and filters. Event ids are stored lowercase, the form ``Last-Event-ID`` is matched in."""

from __future__ import annotations

import orjson

from tidegate.model.event import EventType, StreamEvent
from tidegate.model.json import JsonValue
from tidegate.model.time import parse_ts
from tidegate.stream.log import Entry, Position

__all__ = ["decode_entry", "encode_data", "known_entry", "lookup_key"]

#: Envelope members of ``StreamEvent.to_json``; every other member is one of the type's own fields.
_ENVELOPE = frozenset({"id", "timestamp", "type", "namespace", "tenant", "action_type", "action_id"})
#: Longest ``Last-Event-ID`` worth looking up: an event id is a 36-character UUID.
_MAX_ID = 64


def encode_data(event: StreamEvent) -> bytes:
    """The ``data`` line of the event's frame (compact JSON, UTF-8)."""
    return orjson.dumps(event.to_json())


def lookup_key(last_event_id: str) -> str | None:
    """The stored form of a client's ``Last-Event-ID``; None when it cannot name any event."""
    if len(last_event_id) > _MAX_ID or not last_event_id.isascii() or not last_event_id.isprintable():
        return None
    return last_event_id.lower()


def decode_entry(position: Position, data: bytes) -> Entry:
    """Rebuild the entry (event and frame) from stored bytes; raises ValueError when they are not an event."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return known_entry(position, _event(value), data)


def known_entry(position: Position, event: StreamEvent, data: bytes) -> Entry:
    """The entry of an event whose stored bytes (``encode_data(event)``) are at hand: no decoding."""
    frame = b"".join(
        (b"event: ", _field(event.type.value), b"\nid: ", _field(event.id), b"\ndata: ", data, b"\n\n")
    )
    return Entry(position, event, frame)


def _event(value: dict[str, JsonValue]) -> StreamEvent:
    try:
        event_id, timestamp, kind = value["id"], value["timestamp"], value["type"]
        namespace, tenant = value["namespace"], value["tenant"]
        action_type, action_id = value.get("action_type"), value.get("action_id")
        if not isinstance(event_id, str) or not isinstance(timestamp, str) or not isinstance(kind, str):
            raise ValueError("id, timestamp and type must be strings")
        if not isinstance(namespace, str) or not isinstance(tenant, str):
            raise ValueError("namespace and tenant must be strings")
        if not isinstance(action_type, str | None) or not isinstance(action_id, str | None):
            raise ValueError("action_type and action_id must be strings")
        return StreamEvent(
            id=event_id,
            timestamp=parse_ts(timestamp),
            type=EventType(kind),
            namespace=namespace,
            tenant=tenant,
            fields={name: member for name, member in value.items() if name not in _ENVELOPE},
            action_type=action_type,
            action_id=action_id,
        )
    except KeyError as exc:
        raise ValueError(f"missing {exc.args[0]}") from exc


def _field(value: str) -> bytes:
    """An ``event``/``id`` value without CR or LF, as ``frames.encode_event`` writes it."""
    if "\n" in value or "\r" in value:
        value = value.replace("\r", "").replace("\n", "")
    return value.encode()
