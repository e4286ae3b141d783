"""The event record, one per (namespace, tenant, fingerprint) (features.md §14), and its two JSON forms:
the stored one (every field, including the armed timer) and the ``EventState`` of api.md §6."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tidegate.model.json import JsonObject, dumps, loads
from tidegate.model.time import format_ts, parse_ts

__all__ = ["EventRecord", "TimerRef", "Trigger"]


class Trigger(StrEnum):
    """What moved the event last: ``transitioned_by``, and a state notification's ``trigger``."""

    DISPATCH = "dispatch"
    API = "api"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class TimerRef:
    """The timer member armed for one event's timeout, as the timer index's entity id.

    ``token`` is new for every arming, so a member names exactly one arming: cancelling an old one can
    never remove the member a later write armed for the same instant, and a handler recognises a stale
    member by a token the record no longer holds."""

    namespace: str
    tenant: str
    fingerprint: str
    token: str

    def entity(self) -> str:
        return dumps([self.namespace, self.tenant, self.fingerprint, self.token]).decode()

    @classmethod
    def parse(cls, entity: str) -> TimerRef | None:
        """None for anything this module did not write (a malformed member is dropped, not retried)."""
        try:
            value = loads(entity)
        except ValueError:
            return None
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) for v in value)):
            return None
        namespace, tenant, fingerprint, token = (str(part) for part in value)
        return cls(namespace, tenant, fingerprint, token)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """``timeout_at`` and ``timer`` are both set (the current state's armed timeout) or both None."""

    namespace: str
    tenant: str
    fingerprint: str
    state_machine: str
    state: str
    action_type: str | None
    last_action_id: str | None
    created_at: datetime
    updated_at: datetime
    transitioned_by: Trigger
    timeout_at: datetime | None
    timer: str | None

    def timer_ref(self) -> TimerRef | None:
        if self.timer is None:
            return None
        return TimerRef(self.namespace, self.tenant, self.fingerprint, self.timer)

    def to_json(self) -> JsonObject:
        """The stored form."""
        return {
            "fingerprint": self.fingerprint,
            "namespace": self.namespace,
            "tenant": self.tenant,
            "state_machine": self.state_machine,
            "state": self.state,
            "action_type": self.action_type,
            "last_action_id": self.last_action_id,
            "created_at": format_ts(self.created_at),
            "updated_at": format_ts(self.updated_at),
            "transitioned_by": self.transitioned_by.value,
            "timeout_at": None if self.timeout_at is None else format_ts(self.timeout_at),
            "timer": self.timer,
        }

    def to_state(self) -> JsonObject:
        """api.md §6 ``EventState``, in its key order."""
        return {
            "fingerprint": self.fingerprint,
            "namespace": self.namespace,
            "tenant": self.tenant,
            "state_machine": self.state_machine,
            "state": self.state,
            "action_type": self.action_type,
            "updated_at": format_ts(self.updated_at),
            "timeout_at": None if self.timeout_at is None else format_ts(self.timeout_at),
        }

    def encode(self) -> bytes:
        return dumps(self.to_json())

    @classmethod
    def decode(cls, data: bytes) -> EventRecord:
        """Raises ValueError (or KeyError/TypeError) for a value this module did not write."""
        raw = loads(data)
        if not isinstance(raw, dict):
            raise ValueError("an event record is a JSON object")
        timeout_at = raw["timeout_at"]
        return cls(
            namespace=str(raw["namespace"]),
            tenant=str(raw["tenant"]),
            fingerprint=str(raw["fingerprint"]),
            state_machine=str(raw["state_machine"]),
            state=str(raw["state"]),
            action_type=_text(raw["action_type"]),
            last_action_id=_text(raw["last_action_id"]),
            created_at=parse_ts(str(raw["created_at"])),
            updated_at=parse_ts(str(raw["updated_at"])),
            transitioned_by=Trigger(str(raw["transitioned_by"])),
            timeout_at=None if timeout_at is None else parse_ts(str(timeout_at)),
            timer=_text(raw["timer"]),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
