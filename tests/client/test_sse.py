"""The SSE decoder (WHATWG event-stream interpretation), table-driven: no network."""

from __future__ import annotations

import pytest

from tidegate.client._sse import Frame, FrameDecoder


def decode(lines: list[str]) -> list[Frame]:
    decoder = FrameDecoder()
    return [frame for line in lines if (frame := decoder.feed(line)) is not None]


@pytest.mark.parametrize(
    ("lines", "frames"),
    [
        (["event: a", "id: 1", "data: {}", ""], [Frame("a", "{}", "1")]),
        (["id: 7", "event: step_start", 'data: {"seq":7}', ""], [Frame("step_start", '{"seq":7}', "7")]),
        (["event: lagged", 'data: {"skipped":3}', ""], [Frame("lagged", '{"skipped":3}', None)]),
        ([": ping", ""], []),
        (["data: x", ""], [Frame("message", "x", None)]),
        (["data: a", "data: b", ""], [Frame("message", "a\nb", None)]),
        (["data:no-space", ""], [Frame("message", "no-space", None)]),
        (["data:  two", ""], [Frame("message", " two", None)]),
        (["event: e", ""], []),
        (["event: a", "data: 1", "", "data: 2", ""], [Frame("a", "1", None), Frame("message", "2", None)]),
        (["retry: 100", "id: a\0b", "data: x", ""], [Frame("message", "x", None)]),
        (["data", ""], [Frame("message", "", None)]),
        (["data: x"], []),
    ],
)
def test_frames(lines: list[str], frames: list[Frame]) -> None:
    assert decode(lines) == frames
