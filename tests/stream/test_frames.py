"""SSE frames, byte for byte as stream.md §0.3 and §1.2."""

from __future__ import annotations

from datetime import UTC, datetime

from tidegate.model.event import EventType, StreamEvent
from tidegate.stream.frames import (
    HEARTBEAT,
    PING,
    REPLAY_WINDOW_EXCEEDED,
    encode_event,
    history_frame,
    lagged,
    named_frame,
    replay_window_exceeded,
)

SEED_EVENT = StreamEvent(
    id="019c3882-7c3b-7a10-9f00-3d2c1b0a9e88",
    timestamp=datetime(2026, 2, 7, 14, 30, 0, 123456, tzinfo=UTC),
    type=EventType.ACTION_DISPATCHED,
    namespace="alerts",
    tenant="acme",
    fields={"outcome": {"Executed": {"status": "success", "body": None, "headers": {}}}, "provider": "email"},
    action_type="send_email",
    action_id="019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",
)


def test_event_frame_is_byte_exact() -> None:
    expected = (
        b"event: action_dispatched\n"
        b"id: 019c3882-7c3b-7a10-9f00-3d2c1b0a9e88\n"
        b'data: {"id":"019c3882-7c3b-7a10-9f00-3d2c1b0a9e88","timestamp":"2026-02-07T14:30:00.123456Z",'
        b'"type":"action_dispatched","outcome":{"Executed":{"status":"success","body":null,"headers":{}}},'
        b'"provider":"email","namespace":"alerts","tenant":"acme","action_type":"send_email",'
        b'"action_id":"019c3882-7b00-7c21-8d4e-5f6a7b8c9d01"}\n'
        b"\n"
    )
    assert encode_event(SEED_EVENT) == expected


def test_control_frames_are_byte_exact() -> None:
    assert lagged(42) == b'event: lagged\ndata: {"skipped":42}\n\n'
    assert replay_window_exceeded() == (
        b'event: lagged\ndata: {"skipped":null,"reason":"replay_window_exceeded"}\n\n'
    )
    assert replay_window_exceeded() is REPLAY_WINDOW_EXCEEDED
    assert PING == b": ping\n\n"
    assert HEARTBEAT == b": heartbeat\n\n"


def test_non_ascii_is_utf8_and_line_breaks_stay_escaped() -> None:
    event = StreamEvent(
        id="019c3882-7c3b-7a10-9f00-3d2c1b0a9e88",
        timestamp=SEED_EVENT.timestamp,
        type=EventType.GROUP_FLUSHED,
        namespace="alerts",
        tenant="acme",
        fields={"group_id": "Zürich\r\n⚡", "event_count": 1},
    )
    frame = encode_event(event)
    assert "Zürich\\r\\n⚡".encode() in frame
    assert b"\\u" not in frame
    lines = frame.split(b"\n")
    assert lines[-2:] == [b"", b""] and len(lines) == 5  # event, id, data, then the blank line
    assert b"\r" not in frame


def test_event_and_id_lines_are_stripped_of_line_breaks() -> None:
    event = StreamEvent(
        id="abc\r\nevent: forged",
        timestamp=SEED_EVENT.timestamp,
        type=EventType.GROUP_FLUSHED,
        namespace="n",
        tenant="t",
    )
    frame = encode_event(event)
    assert frame.startswith(b"event: group_flushed\nid: abcevent: forged\ndata: {")
    assert frame.count(b"\n") == 4


def test_other_stream_layouts() -> None:
    assert named_frame("done", {"reason": "terminal", "n": None}) == (
        b'event: done\ndata: {"reason":"terminal","n":null}\n\n'
    )
    assert named_frame("out\ncome", []) == b"event: outcome\ndata: []\n\n"
    assert history_frame(4, "step_complete", {"seq": 4, "progress": 0.5}) == (
        b'id: 4\nevent: step_complete\ndata: {"seq":4,"progress":0.5}\n\n'
    )
