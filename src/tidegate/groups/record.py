"""A group as the state store holds it (features.md §13): its identity, settings, batch and schedule.

Frozen values with a JSON codec. Instants are stored as whole microseconds, so a timer member's due time
(``workers/timers.py``) compares exactly with the ``notify_at`` it was armed for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tidegate.model.json import JsonObject, JsonValue, dumps, loads
from tidegate.model.time import format_ts, from_micros, to_micros
from tidegate.model.verdict import GroupParams

__all__ = ["Flush", "Group", "GroupSettings", "GroupState", "Member"]


class GroupState(StrEnum):
    PENDING = "pending"  # holds events not yet notified; flushed at ``notify_at``
    NOTIFIED = "notified"  # every event sent; a reminder or the close is due at ``notify_at``


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """The rule's parameters, copied when the group is created: a reload affects new groups only."""

    group_wait_seconds: int
    group_interval_seconds: int
    repeat_interval_seconds: int | None
    max_group_size: int
    notify_provider: str | None

    @classmethod
    def of(cls, params: GroupParams) -> GroupSettings:
        return cls(
            params.group_wait_seconds,
            params.group_interval_seconds,
            params.repeat_interval_seconds,
            params.max_group_size,
            params.notify_provider,
        )


@dataclass(frozen=True, slots=True)
class Member:
    """One grouped action, as its group's notification and ``GET /v1/groups/{key}`` show it."""

    action_id: str
    action_type: str
    provider: str
    fingerprint: str | None
    status: str | None
    payload: JsonValue
    received_at: datetime

    def to_json(self) -> JsonObject:
        """The notification's form (features.md §13), in the spec's key order."""
        return {
            "action_id": self.action_id,
            "action_type": self.action_type,
            "provider": self.provider,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "payload": self.payload,
            "received_at": format_ts(self.received_at),
        }

    def event_json(self) -> JsonObject:
        """The form ``GET /v1/groups/{group_key}`` lists (api.md §8)."""
        return {
            "action_id": self.action_id,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "payload": self.payload,
            "received_at": format_ts(self.received_at),
        }

    def _encode(self) -> JsonObject:
        return {**self.to_json(), "received_at": to_micros(self.received_at)}

    @classmethod
    def _decode(cls, data: JsonObject) -> Member:
        return cls(
            action_id=_str(data["action_id"]),
            action_type=_str(data["action_type"]),
            provider=_str(data["provider"]),
            fingerprint=_opt_str(data["fingerprint"]),
            status=_opt_str(data["status"]),
            payload=data["payload"],
            received_at=_time(data["received_at"]),
        )


@dataclass(frozen=True, slots=True)
class Flush:
    """A flush whose notification has not been sent yet: kept in the group (the outbox) until it is.

    ``flush_count`` (the group's count after this flush) identifies it within its group; ``delivery_at``
    is the due time of its fallback timer: if the process that flushed dies before sending, another
    instance sends it then (features.md §19)."""

    delivery_at: datetime
    flushed_at: datetime
    flush_count: int
    repeat: bool
    events: tuple[Member, ...]

    def _encode(self) -> JsonObject:
        return {
            "delivery_at": to_micros(self.delivery_at),
            "flushed_at": to_micros(self.flushed_at),
            "flush_count": self.flush_count,
            "repeat": self.repeat,
            "events": [member._encode() for member in self.events],
        }

    @classmethod
    def _decode(cls, data: JsonObject) -> Flush:
        return cls(
            delivery_at=_time(data["delivery_at"]),
            flushed_at=_time(data["flushed_at"]),
            flush_count=_int(data["flush_count"]),
            repeat=bool(data["repeat"]),
            events=tuple(Member._decode(_obj(item)) for item in _list(data["events"])),
        )


@dataclass(frozen=True, slots=True)
class Group:
    """``batch`` is the pending events, or for a ``notified`` group the last flushed ones (api.md §8).

    ``labels`` maps each ``group_by`` field (without ``action.``) to the first event's value, in rule
    order; ``provider`` is the first event's, used when the rule names no ``notify_provider``."""

    group_id: str
    group_key: str
    namespace: str
    tenant: str
    rule: str
    labels: dict[str, str]
    provider: str
    settings: GroupSettings
    state: GroupState
    batch: tuple[Member, ...]
    notify_at: datetime
    created_at: datetime
    updated_at: datetime
    last_notified_at: datetime | None = None
    flush_count: int = 0
    idle_reminders: int = 0
    undelivered: tuple[Flush, ...] = ()

    def to_json(self) -> JsonObject:
        """The API's ``Group`` object (api.md §8)."""
        return {
            "group_id": self.group_id,
            "group_key": self.group_key,
            "namespace": self.namespace,
            "tenant": self.tenant,
            "state": self.state.value,
            "event_count": len(self.batch),
            "labels": dict(self.labels),
            "notify_at": format_ts(self.notify_at),
            "created_at": format_ts(self.created_at),
            "updated_at": format_ts(self.updated_at),
        }

    def unsent(self, flush_count: int) -> Flush | None:
        """The flush numbered ``flush_count`` if it is still in the outbox."""
        return next((f for f in self.undelivered if f.flush_count == flush_count), None)

    def encode(self) -> bytes:
        s = self.settings
        return dumps(
            {
                "group_id": self.group_id,
                "group_key": self.group_key,
                "namespace": self.namespace,
                "tenant": self.tenant,
                "rule": self.rule,
                "labels": self.labels,
                "provider": self.provider,
                "settings": [
                    s.group_wait_seconds,
                    s.group_interval_seconds,
                    s.repeat_interval_seconds,
                    s.max_group_size,
                    s.notify_provider,
                ],
                "state": self.state.value,
                "batch": [member._encode() for member in self.batch],
                "notify_at": to_micros(self.notify_at),
                "created_at": to_micros(self.created_at),
                "updated_at": to_micros(self.updated_at),
                "last_notified_at": None
                if self.last_notified_at is None
                else to_micros(self.last_notified_at),
                "flush_count": self.flush_count,
                "idle_reminders": self.idle_reminders,
                "undelivered": [flush._encode() for flush in self.undelivered],
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Group:
        """Raises ValueError, KeyError or TypeError for a value this version did not write."""
        data = _obj(loads(raw))
        wait, interval, repeat, size, notify = _list(data["settings"])
        last = data["last_notified_at"]
        return cls(
            group_id=_str(data["group_id"]),
            group_key=_str(data["group_key"]),
            namespace=_str(data["namespace"]),
            tenant=_str(data["tenant"]),
            rule=_str(data["rule"]),
            labels={name: _str(value) for name, value in _obj(data["labels"]).items()},
            provider=_str(data["provider"]),
            settings=GroupSettings(
                _int(wait),
                _int(interval),
                None if repeat is None else _int(repeat),
                _int(size),
                _opt_str(notify),
            ),
            state=GroupState(_str(data["state"])),
            batch=tuple(Member._decode(_obj(item)) for item in _list(data["batch"])),
            notify_at=_time(data["notify_at"]),
            created_at=_time(data["created_at"]),
            updated_at=_time(data["updated_at"]),
            last_notified_at=None if last is None else _time(last),
            flush_count=_int(data["flush_count"]),
            idle_reminders=_int(data["idle_reminders"]),
            undelivered=tuple(Flush._decode(_obj(item)) for item in _list(data["undelivered"])),
        )


def _obj(value: JsonValue) -> JsonObject:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _list(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise TypeError("expected an array")
    return value


def _str(value: JsonValue) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _opt_str(value: JsonValue) -> str | None:
    return None if value is None else _str(value)


def _int(value: JsonValue) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


def _time(value: JsonValue) -> datetime:
    return from_micros(_int(value))
