"""What the SDK's stream iterators yield: typed items read from SSE frames (stream.md), no I/O.

``/v1/stream`` yields ``StreamEvent`` (the server's own event type) and ``Lagged``; per-execution
streams yield ``HistoryEntry`` (the server's history model) and finally ``ExecutionDone``; a dispatch
stream yields ``DispatchStreamEvent``, the followed chain's ``HistoryEntry`` items, then ``DispatchDone``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, TypeVar, get_args

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from tidegate.api.chain_schemas import ChainSummary, EntryType, HistoryEntry
from tidegate.client._errors import ProtocolError
from tidegate.client._outcomes import STREAM_TAGS, DispatchResult, ErrorInfo, parse_dispatch, parse_error_info
from tidegate.client._sse import Frame
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.time import parse_ts

__all__ = [
    "DispatchDone",
    "DispatchStreamEvent",
    "DispatchStreamItem",
    "ExecutionDone",
    "ExecutionItem",
    "Lagged",
    "StreamItem",
    "event_outcome",
    "parse_execution_entry",
    "parse_stream_event",
]

log = logging.getLogger(__name__)

_ENVELOPE = frozenset({"id", "timestamp", "type", "namespace", "tenant", "action_type", "action_id"})
#: History entry types (stream.md §2.3): on a followed dispatch stream, frames with these names are entries.
ENTRY_TYPES = frozenset(get_args(EntryType))


@dataclass(frozen=True, slots=True)
class Lagged:
    """A gap: ``skipped`` events were dropped for this slow connection, or ``skipped`` is None and
    ``reason`` is ``replay_window_exceeded`` when a resume position had left the replay window."""

    skipped: int | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionDone:
    """The last frame of a per-execution stream: why it ended (``terminal``, ``timeout``) and the run's
    ``ChainSummary`` at that moment."""

    reason: str
    summary: ChainSummary


@dataclass(frozen=True, slots=True)
class DispatchStreamEvent:
    """A dispatch stream event with the seed 003 envelope (``dispatch_started``, ``rule_matched``,
    ``attempt_started``, ``attempt_failed``, ``outcome``, ``error``)."""

    type: str
    message: str
    timestamp: datetime
    action_id: str
    trace_id: str | None
    data: JsonObject


@dataclass(frozen=True, slots=True)
class DispatchDone:
    """The last frame of a dispatch stream: the dispatch's result, or the error that ended it."""

    action_id: str | None
    result: DispatchResult | None
    error: ErrorInfo | None


StreamItem: TypeAlias = StreamEvent | Lagged
ExecutionItem: TypeAlias = HistoryEntry | ExecutionDone
DispatchStreamItem: TypeAlias = DispatchStreamEvent | HistoryEntry | DispatchDone
M = TypeVar("M", bound=BaseModel)


def _json(frame: Frame) -> dict[str, Any]:
    try:
        data = orjson.loads(frame.data)
    except orjson.JSONDecodeError:
        raise ProtocolError(f"{frame.event} frame data is not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{frame.event} frame data is not a JSON object")
    return data


def parse_stream_event(frame: Frame) -> StreamItem | None:
    """A ``/v1/stream`` frame as an item; None for an event type this SDK does not know (newer server)."""
    data = _json(frame)
    if frame.event == "lagged":
        skipped = data.get("skipped")
        return Lagged(skipped if isinstance(skipped, int) else None, data.get("reason"))
    try:
        kind = EventType(data["type"])
    except (KeyError, ValueError):
        log.warning("skipping a stream event of unknown type %r", data.get("type"))
        return None
    try:
        return StreamEvent(
            id=str(data["id"]),
            timestamp=parse_ts(data["timestamp"]),
            type=kind,
            namespace=str(data["namespace"]),
            tenant=str(data["tenant"]),
            fields={k: v for k, v in data.items() if k not in _ENVELOPE},
            action_type=data.get("action_type"),
            action_id=data.get("action_id"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed stream event: {exc!r}") from None


def event_outcome(event: StreamEvent) -> str | None:
    """The category of an ``action_dispatched`` event's tagged outcome (``executed``, ...), else None."""
    outcome: JsonValue = event.fields.get("outcome")
    if isinstance(outcome, str):
        return STREAM_TAGS.get(outcome, outcome)
    if isinstance(outcome, dict) and len(outcome) == 1:
        tag = next(iter(outcome))
        return STREAM_TAGS.get(tag, tag)
    return None


def _model(cls: type[M], frame: Frame) -> M:
    try:
        return cls.model_validate(_json(frame))
    except PydanticValidationError as exc:
        raise ProtocolError(f"malformed {frame.event} frame: {exc.errors()[:3]}") from None


def parse_execution_entry(frame: Frame) -> HistoryEntry:
    return _model(HistoryEntry, frame)


def parse_execution_done(frame: Frame) -> ExecutionDone:
    data = _json(frame)
    return ExecutionDone(str(data.get("reason", "")), _model(ChainSummary, frame))


def parse_dispatch_frame(frame: Frame) -> DispatchStreamItem:
    data = _json(frame)
    if frame.event == "done":
        error = data.get("error")
        if data.get("outcome") is None:
            info = parse_error_info(error) if error is not None else ErrorInfo("unknown", "no outcome", False)
            return DispatchDone(data.get("action_id"), None, info)
        result = parse_dispatch(data)
        return DispatchDone(result.action_id, result, None)
    if frame.event in ENTRY_TYPES and "seq" in data:
        return parse_execution_entry(frame)
    try:
        return DispatchStreamEvent(
            type=frame.event,
            message=str(data.get("message", "")),
            timestamp=parse_ts(data["timestamp"]),
            action_id=str(data["action_id"]),
            trace_id=data.get("trace_id"),
            data=data.get("data") or {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed dispatch stream event: {exc!r}") from None
