"""The action: the request body of api.md §3.1 and the normalized value every later stage sees."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tidegate.model.ids import new_id
from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import format_ts, parse_ts

__all__ = ["IDENTIFIER_PATTERN", "Action", "ActionRequest", "Identifier", "Timestamp", "flatten_metadata"]

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]+$"
MAX_LABELS = 64
MAX_LABEL_NAME = 128
MAX_LABEL_VALUE = 1024

Identifier = Annotated[str, Field(min_length=1, max_length=256, pattern=IDENTIFIER_PATTERN)]


def _timestamp(value: object) -> object:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    return parse_ts(value)


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


def flatten_metadata(raw: object) -> dict[str, str]:
    """Accept ``{"labels":{...}}`` and flat labels together; a ``labels`` entry wins a name clash (D3)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("metadata must be an object")
    labels: dict[str, Any] = {k: v for k, v in raw.items() if not (k == "labels" and isinstance(v, dict))}
    nested = raw.get("labels")
    if isinstance(nested, dict):
        labels.update(nested)
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels are allowed")
    for name, value in labels.items():
        if not isinstance(value, str):
            raise ValueError(f"label '{name[:MAX_LABEL_NAME]}' must be a string")
        if not 1 <= len(name) <= MAX_LABEL_NAME:
            raise ValueError(f"label names must be 1-{MAX_LABEL_NAME} characters")
        if len(value) > MAX_LABEL_VALUE:
            raise ValueError(f"label '{name}' is longer than {MAX_LABEL_VALUE} characters")
    return labels


class ActionRequest(BaseModel):
    """The dispatch body as sent; unknown keys (``template``, ``trace_context``, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Identifier | None = None
    namespace: Identifier
    tenant: Identifier
    provider: Identifier
    action_type: Identifier
    payload: JsonValue
    dedup_key: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    metadata: Annotated[dict[str, str], BeforeValidator(flatten_metadata)] = Field(default_factory=dict)
    status: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    fingerprint: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    created_at: Timestamp | None = None

    @model_validator(mode="after")
    def _check_lifecycle(self) -> ActionRequest:
        if self.starts_at and self.ends_at and self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
        return self

    def normalize(self, now: datetime, trace_context: dict[str, str] | None = None) -> Action:
        """Fill the server-side defaults (D3): a UUIDv7 id and ``created_at`` = time of receipt."""
        return Action(
            id=self.id or new_id(),
            namespace=self.namespace,
            tenant=self.tenant,
            provider=self.provider,
            action_type=self.action_type,
            payload=self.payload,
            dedup_key=self.dedup_key,
            metadata=dict(self.metadata),
            status=self.status,
            fingerprint=self.fingerprint,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            created_at=self.created_at or now,
            trace_context=dict(trace_context or {}),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """The normalized action that rules, providers and the audit see (api.md §3.1)."""

    id: str
    namespace: str
    tenant: str
    provider: str
    action_type: str
    payload: JsonValue
    dedup_key: str | None = None
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    status: str | None = None
    fingerprint: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    created_at: datetime | None = None
    trace_context: dict[str, str] = dataclasses.field(default_factory=dict)

    def replace(self, **changes: Any) -> Action:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> JsonObject:
        """The normalized JSON form, in the key order of api.md §3.1 (also the webhook body)."""
        return {
            "id": self.id,
            "namespace": self.namespace,
            "tenant": self.tenant,
            "provider": self.provider,
            "action_type": self.action_type,
            "payload": self.payload,
            "dedup_key": self.dedup_key,
            "metadata": dict(self.metadata),
            "status": self.status,
            "fingerprint": self.fingerprint,
            "starts_at": _ts(self.starts_at),
            "ends_at": _ts(self.ends_at),
            "created_at": _ts(self.created_at),
            "trace_context": dict(self.trace_context),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Action:
        """Inverse of ``to_json``, for the copies stores keep (approvals, chain runs); the optional keys
        may be absent."""
        return cls(
            id=data["id"],
            namespace=data["namespace"],
            tenant=data["tenant"],
            provider=data["provider"],
            action_type=data["action_type"],
            payload=data.get("payload"),
            dedup_key=data.get("dedup_key"),
            metadata=dict(data.get("metadata") or {}),
            status=data.get("status"),
            fingerprint=data.get("fingerprint"),
            starts_at=_parse(data.get("starts_at")),
            ends_at=_parse(data.get("ends_at")),
            created_at=_parse(data.get("created_at")),
            trace_context=dict(data.get("trace_context") or {}),
        )


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def _parse(value: str | None) -> datetime | None:
    return None if value is None else parse_ts(value)
