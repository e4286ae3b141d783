"""The /v1/stream events of a run's new history entries, per the mapping of stream.md §2.3 (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidegate.chains.run import ChainRun
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.json import JsonObject, JsonValue
from tidegate.stream.emit import new_event

__all__ = ["TERMINAL_ENTRIES", "stream_events"]

TERMINAL_ENTRIES = frozenset({"completed", "failed", "cancelled", "timed_out"})
_STEP_STATUS = {
    "step_start": "started",
    "step_retrying": "retrying",
    "step_complete": "completed",
    "step_failed": "failed",
    "step_skipped": "skipped",
}


def stream_events(run: ChainRun, entries: Sequence[JsonObject], now: datetime) -> list[StreamEvent]:
    """Events for ``entries`` (the ones a change appended to ``run``, in order). Entries after the run's
    terminal entry (an in-flight result recorded late), ``initiated`` and ``processing`` give none."""
    terminal_seq = next((int(str(e["seq"])) for e in run.history if e["type"] in TERMINAL_ENTRIES), None)
    events: list[StreamEvent] = []
    for entry in entries:
        seq = int(str(entry["seq"]))
        if terminal_seq is not None and seq > terminal_seq:
            continue
        events.extend(_events_of(run, entry, now))
    return events


def _events_of(run: ChainRun, entry: JsonObject, now: datetime) -> list[StreamEvent]:
    kind = str(entry["type"])
    if kind in TERMINAL_ENTRIES:
        fields: dict[str, JsonValue] = {
            "chain_id": run.chain_id,
            "status": kind,
            "execution_path": entry["execution_path"],
        }
        return [_event(run, EventType.CHAIN_COMPLETED, fields, now)]
    status = _STEP_STATUS.get(kind)
    if status is None:
        return []
    advanced = _event(
        run,
        EventType.CHAIN_ADVANCED,
        {
            "chain_id": run.chain_id,
            "chain_name": run.chain_name,
            "step_name": entry["step_name"],
            "step_index": entry["step_index"],
            "step_status": status,
            "attempt": entry["attempt"],
        },
        now,
    )
    if kind in ("step_start", "step_retrying"):
        return [advanced]
    step_completed = _event(
        run,
        EventType.CHAIN_STEP_COMPLETED,
        {
            "chain_id": run.chain_id,
            "step_name": entry["step_name"],
            "step_index": entry["step_index"],
            "success": kind == "step_complete",
            "next_step": entry.get("next_step"),
        },
        now,
    )
    return [advanced, step_completed]


def _event(run: ChainRun, kind: EventType, fields: dict[str, JsonValue], now: datetime) -> StreamEvent:
    return new_event(kind, namespace=run.namespace, tenant=run.tenant, fields=fields, now=now)
