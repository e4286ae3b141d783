"""SSE frame encoding (stream.md §0.3): UTF-8, LF line ends, one compact JSON ``data`` line per frame.

Every function returns the finished bytes of one frame, so a frame is built once and the same object is
written to every connection that carries it. orjson writes compact JSON, keeps non-ASCII as UTF-8 and
escapes line breaks inside strings, so ``data`` can never span two lines; ``event``/``id`` values are
stripped of CR and LF because a stray line break there would start a forged field."""

from __future__ import annotations

import orjson

from tidegate.model.event import StreamEvent
from tidegate.model.json import JsonValue

__all__ = [
    "HEARTBEAT",
    "PING",
    "REPLAY_WINDOW_EXCEEDED",
    "encode_event",
    "history_frame",
    "lagged",
    "named_frame",
    "replay_window_exceeded",
]

#: Keep-alive comment of ``/v1/stream`` and the dispatch stream (§0.4).
PING = b": ping\n\n"
#: Keep-alive comment of the per-execution streams (seed 004).
HEARTBEAT = b": heartbeat\n\n"
#: The replay-gap frame of §1.10; like every ``lagged`` frame it has no ``id`` line.
REPLAY_WINDOW_EXCEEDED = b'event: lagged\ndata: {"skipped":null,"reason":"replay_window_exceeded"}\n\n'


def _field(value: str) -> bytes:
    if "\n" in value or "\r" in value:
        value = value.replace("\r", "").replace("\n", "")
    return value.encode()


def encode_event(event: StreamEvent) -> bytes:
    """``event: <type>\\nid: <id>\\ndata: <json>\\n\\n``, the ``/v1/stream`` layout (seed 000 order)."""
    return b"".join(
        (
            b"event: ",
            _field(event.type.value),
            b"\nid: ",
            _field(event.id),
            b"\ndata: ",
            orjson.dumps(event.to_json()),
            b"\n\n",
        )
    )


def lagged(skipped: int) -> bytes:
    """The backpressure frame of §1.9: ``skipped`` events were dropped at this point of the stream."""
    return b'event: lagged\ndata: {"skipped":%d}\n\n' % skipped


def replay_window_exceeded() -> bytes:
    """The frame sent first when ``Last-Event-ID`` is not in the replay window (§1.10)."""
    return REPLAY_WINDOW_EXCEEDED


def named_frame(name: str, data: JsonValue) -> bytes:
    """``event: <name>\\ndata: <json>\\n\\n``, no id: dispatch-stream events and ``done`` (§2.2, §3.3)."""
    return b"event: " + _field(name) + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def history_frame(seq: int, name: str, data: JsonValue) -> bytes:
    """``id: <seq>\\nevent: <type>\\ndata: <json>\\n\\n``: a per-execution history entry (seed 004 order)."""
    return b"id: %d\nevent: " % seq + _field(name) + b"\ndata: " + orjson.dumps(data) + b"\n\n"
