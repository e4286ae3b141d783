"""Frames of the dispatch stream (stream.md §3.3-3.5): layout, envelope key order, data of each event."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tidegate.stream.dispatch_events import DispatchEvents, trace_id_of

AT = datetime(2026, 2, 7, 14, 30, 0, 100000, tzinfo=UTC)
ACTION_ID = "019c3882-7b00-7c21-8d4e-5f6a7b8c9d01"
EVENTS = DispatchEvents(ACTION_ID, None, lambda: AT)


def parse(frame: bytes) -> tuple[str, dict[str, object]]:
    """Check the byte layout (``event: <name>\\ndata: <json>\\n\\n``, no id) and split it."""
    assert frame.endswith(b"\n\n")
    lines = frame[:-2].split(b"\n")
    assert len(lines) == 2, frame
    assert lines[0].startswith(b"event: ")
    assert lines[1].startswith(b"data: ")
    data = orjson.loads(lines[1][6:])
    assert orjson.dumps(data) == lines[1][6:]  # compact JSON
    return lines[0][7:].decode(), data


def test_the_worked_example_frames_byte_for_byte() -> None:
    """stream.md §3.7: the seed envelope, keys in order, one compact data line."""
    started = EVENTS.started("notifications", "tenant-1", "webhook", "notify", dry_run=False)
    assert started == (
        b"event: dispatch_started\n"
        b'data: {"type":"dispatch_started",'
        b"\"message\":\"Dispatching action 'notify' to provider 'webhook'.\","
        b'"timestamp":"2026-02-07T14:30:00.100000Z","action_id":"019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",'
        b'"trace_id":null,"data":{"namespace":"notifications","tenant":"tenant-1","provider":"webhook",'
        b'"action_type":"notify","dry_run":false}}\n\n'
    )
    error = {"code": "connection", "message": "connection error: connection refused", "retryable": True}
    name, failed = parse(EVENTS.attempt_failed(1, "webhook", error, 100))
    assert name == "attempt_failed"
    assert failed["message"] == "Attempt 1 failed; retrying in 100 ms."
    assert failed["data"] == {"attempt": 1, "provider": "webhook", "error": error, "retry_in_ms": 100}


@pytest.mark.parametrize(
    ("frame", "name", "data"),
    [
        (
            EVENTS.rule_matched("block-spam", "suppress", 1),
            "rule_matched",
            {"rule": "block-spam", "verdict": "suppress", "priority": 1},
        ),
        (EVENTS.attempt_started(2, "sms"), "attempt_started", {"attempt": 2, "provider": "sms"}),
        (
            EVENTS.attempt_failed(3, "sms", {"code": "timeout", "message": "t", "retryable": True}, None),
            "attempt_failed",
            {
                "attempt": 3,
                "provider": "sms",
                "error": {"code": "timeout", "message": "t", "retryable": True},
                "retry_in_ms": None,
            },
        ),
        (
            EVENTS.error("backend_unavailable", "state store unreachable", True),
            "error",
            {"code": "backend_unavailable", "message": "state store unreachable", "retryable": True},
        ),
    ],
)
def test_enveloped_events(frame: bytes, name: str, data: dict[str, object]) -> None:
    parsed_name, envelope = parse(frame)
    assert parsed_name == name
    assert list(envelope) == ["type", "message", "timestamp", "action_id", "trace_id", "data"]
    assert envelope["type"] == name
    assert envelope["action_id"] == ACTION_ID
    assert envelope["timestamp"] == "2026-02-07T14:30:00.100000Z"
    assert envelope["data"] == data
    assert isinstance(envelope["message"], str)
    assert envelope["message"]


def test_outcome_wraps_and_done_carries_the_dispatch_body_unwrapped() -> None:
    body: dict[str, object] = {"action_id": ACTION_ID, "outcome": "suppressed", "rule": "block-spam"}
    name, outcome = parse(EVENTS.outcome(body))
    assert (name, outcome["data"], outcome["message"]) == ("outcome", body, "Action suppressed.")
    done = EVENTS.done(body)
    assert done == b"event: done\ndata: " + orjson.dumps(body) + b"\n\n"


def test_done_after_an_error_has_no_outcome() -> None:
    name, done = parse(EVENTS.failed_done("internal_error", "internal error", False))
    assert name == "done"
    assert done == {
        "action_id": ACTION_ID,
        "outcome": None,
        "error": {"code": "internal_error", "message": "internal error", "retryable": False},
    }


def test_dry_run_is_said_in_the_start_event() -> None:
    _, started = parse(EVENTS.started("ns", "t", "log", "ping", dry_run=True))
    assert started["data"] == {
        "namespace": "ns",
        "tenant": "t",
        "provider": "log",
        "action_type": "ping",
        "dry_run": True,
    }
    assert "dry run" in str(started["message"])


def test_non_ascii_stays_utf8_and_line_breaks_stay_escaped() -> None:
    frame = EVENTS.rule_matched("règle\nx", "deny", None)
    assert "règle".encode() in frame
    _, envelope = parse(frame)
    assert envelope["data"] == {"rule": "règle\nx", "verdict": "deny", "priority": None}


def test_trace_id_comes_from_a_kept_traceparent() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert trace_id_of({"traceparent": traceparent}) == "0af7651916cd43dd8448eb211c80319c"
    assert trace_id_of({}) is None
    traced = DispatchEvents(ACTION_ID, "0af7651916cd43dd8448eb211c80319c", lambda: AT)
    assert parse(traced.attempt_started(1, "log"))[1]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
