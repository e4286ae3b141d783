"""Reconnection decisions (``_resume``), with injected randomness: the backoff curve and its jitter, which
errors end a stream, ``max_retries``, ``Retry-After`` and where a stream resumes."""

from __future__ import annotations

import pytest

from tidegate.client import APIError, Backoff, BadRequestError, RateLimitedError, TransportError
from tidegate.client._resume import ExecutionFollower, StreamFollower
from tidegate.client._sse import Frame


@pytest.mark.parametrize(
    ("attempt", "rand", "delay"),
    [(1, 0.0, 0.25), (1, 1.0, 0.5), (2, 0.0, 0.5), (3, 0.5, 1.5), (10, 0.0, 15.0), (10, 1.0, 30.0)],
)
def test_backoff_doubles_with_equal_jitter_up_to_the_cap(attempt: int, rand: float, delay: float) -> None:
    assert Backoff(initial=0.5, maximum=30.0).delay(attempt, rand) == pytest.approx(delay)


def test_retryable_failures_back_off_until_max_retries() -> None:
    follower = StreamFollower(None, Backoff(initial=1.0, maximum=8.0), max_retries=3, rand=lambda: 1.0)
    drop = TransportError("gone")
    assert [follower.failed(drop) for _ in range(3)] == [1.0, 2.0, 4.0]
    with pytest.raises(TransportError):
        follower.failed(drop)


def test_activity_starts_the_backoff_afresh() -> None:
    follower = StreamFollower(None, Backoff(initial=1.0), max_retries=2, rand=lambda: 1.0)
    follower.failed(TransportError("a"))
    follower.failed(TransportError("b"))
    follower.activity()
    assert follower.failed(TransportError("c")) == 1.0


def test_final_errors_are_raised_at_once() -> None:
    follower = StreamFollower(None, Backoff(), max_retries=None)
    final = BadRequestError("bad filter", code="invalid_filter", retryable=False, status=400)
    with pytest.raises(BadRequestError):
        follower.failed(final)
    assert follower.failures == 0


def test_retry_after_is_a_floor() -> None:
    follower = StreamFollower(None, Backoff(initial=0.5), max_retries=None, rand=lambda: 0.0)
    busy = RateLimitedError("busy", code="too_many_connections", retryable=True, status=429, retry_after=5)
    assert follower.failed(busy) == 5.0
    unavailable = APIError("down", code="backend_unavailable", retryable=True, status=503)
    assert follower.failed(unavailable) == pytest.approx(0.5)


def test_stream_resumes_after_the_last_id_and_lagged_frames_keep_it() -> None:
    follower = StreamFollower("start", Backoff(), None)
    assert follower.headers() == {"Last-Event-ID": "start"}
    data = (
        '{"id":"e1","timestamp":"2026-02-07T14:30:00.000000Z","type":"group_flushed",'
        '"group_id":"g","event_count":2,"namespace":"n","tenant":"t"}'
    )
    event = follower.handle(Frame("group_flushed", data, "e1"))
    assert event is not None and follower.last_event_id == "e1"
    follower.handle(Frame("lagged", '{"skipped":4}', None))
    assert follower.headers() == {"Last-Event-ID": "e1"}
    assert (
        follower.handle(Frame("brand_new_type", data.replace("group_flushed", "brand_new_type"), "e2"))
        is None
    )
    assert follower.last_event_id == "e2"


SUMMARY = (
    '{"chain_id":"c","execution_id":"c","chain_name":"x","namespace":"n","tenant":"t","status":"%s",'
    '"current_step":null,"current_step_index":null,"total_steps":1,"origin_action_id":"a",'
    '"started_at":"2026-02-07T14:30:00.000000Z","updated_at":"2026-02-07T14:30:00.000000Z",'
    '"completed_at":null,"reason":"%s"}'
)


def test_execution_done_ends_the_stream_unless_the_server_lost_its_history() -> None:
    follower = ExecutionFollower(None, Backoff(), None)
    entry = '{"execution_id":"c","seq":3,"timestamp":"2026-02-07T14:30:00.000000Z","type":"processing"}'
    follower.handle(Frame("processing", entry, "3"))
    assert follower.headers() == {"Last-Event-ID": "3"}
    assert follower.handle(Frame("done", SUMMARY % ("running", "unavailable"), None)) is None
    assert not follower.finished
    done = follower.handle(Frame("done", SUMMARY % ("completed", "terminal"), None))
    assert done is not None and follower.finished
