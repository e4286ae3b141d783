"""What ``tidegate tail`` prints for each kind of item (``console/lines.py``): columns, colours, details."""

from __future__ import annotations

from datetime import UTC, datetime

from tidegate.client import APIError, ConnectionChange, Lagged, TransportError
from tidegate.console.lines import connection_line, event_line, lagged_line
from tidegate.model.event import EventType, StreamEvent

WHEN = datetime(2026, 2, 7, 14, 30, 0, 123456, tzinfo=UTC)


def event(kind: EventType, fields: dict[str, object], **extra: str) -> StreamEvent:
    return StreamEvent("e-1", WHEN, kind, "alerts", "acme", fields, **extra)  # type: ignore[arg-type]


def test_a_failed_dispatch_shows_its_reason_in_red() -> None:
    failed = {"Failed": {"code": "timeout", "message": "no answer in 5 s", "retryable": True, "attempts": 3}}
    line = event_line(
        event(EventType.ACTION_DISPATCHED, {"outcome": failed, "provider": "pager"}, action_id="a-1")
    )
    assert line.plain.split()[:6] == [
        "2026-02-07T14:30:00.123Z",
        "acme/alerts",
        "action_dispatched",
        "failed",
        "pager",
        "a-1",
    ]
    assert line.plain.endswith("timeout: no answer in 5 s (attempts: 3)")
    assert any(span.style == "bold red" for span in line.spans)


def test_other_outcomes_and_event_types() -> None:
    throttled = {"outcome": {"Throttled": {"retry_after": {"secs": 42, "nanos": 0}}}, "provider": "sms"}
    assert "retry after 42 s" in event_line(event(EventType.ACTION_DISPATCHED, throttled)).plain
    deduplicated = {"outcome": "Deduplicated", "provider": "email"}
    assert event_line(event(EventType.ACTION_DISPATCHED, deduplicated)).plain.split()[3] == "deduplicated"

    resolved = event_line(event(EventType.APPROVAL_RESOLVED, {"approval_id": "ap", "decision": "rejected"}))
    assert resolved.plain.split()[2:5] == ["approval_resolved", "rejected", "-"]
    flushed = event_line(event(EventType.GROUP_FLUSHED, {"group_id": "g-1", "event_count": 5}))
    assert "5 events" in flushed.plain and "group_id=g-1" in flushed.plain
    step = {"chain_id": "c", "chain_name": "n", "step_name": "s", "step_index": 0, "step_status": "started"}
    assert event_line(event(EventType.CHAIN_ADVANCED, step)).plain.split()[3] == "started"


def test_gaps_and_reconnections_are_announced() -> None:
    assert "4 events were dropped" in lagged_line(Lagged(4)).plain
    assert "replay window" in lagged_line(Lagged(None, "replay_window_exceeded")).plain

    url = "http://gw:8080"
    first = ConnectionChange("connected", 0, None)
    assert connection_line(first, url, first=True).plain == f"-- connected to {url}"
    lost = ConnectionChange("disconnected", 2, "e-9", TransportError("ReadError: reset"), 1.25)
    assert connection_line(lost, url, first=False).plain == (
        "!! connection lost (transport_error: ReadError: reset); reconnecting in 1.2 s (attempt 2)"
    )
    busy = APIError("slots", code="too_many_connections", retryable=True, status=429)
    assert (
        "429 too_many_connections"
        in connection_line(ConnectionChange("disconnected", 1, None, busy, 5.0), url, first=False).plain
    )
    back = ConnectionChange("connected", 2, "e-9")
    assert connection_line(back, url, first=False).plain == f"-- reconnected to {url}; resuming after e-9"
