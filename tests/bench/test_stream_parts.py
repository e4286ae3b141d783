"""The stream benchmark's pure parts: frame parsing on the client, the publish schedule, the verdicts."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from _publisher import Plan, bench_event, publish_on_schedule
from _sse_load import Tally, parse_chunks
from _stream_report import LATENCY_TARGET_MS, StepResult
from tidegate.stream.frames import encode_event, lagged


def _frame(tag: int, published_ns: int) -> bytes:
    """A frame shaped like the publisher's (see the first test), with a chosen publish time."""
    body = b'{"outcome":{"Executed":{"status":"success","body":{"k":%d,"t":%d},"headers":{}}}}' % (
        tag,
        published_ns,
    )
    return b"event: action_dispatched\nid: 1\ndata: " + body + b"\n\n"


def _chunked(body: bytes) -> bytes:
    return b"%x\r\n" % len(body) + body + b"\r\n"


def test_the_event_carries_its_tag_and_a_monotonic_publish_time() -> None:
    frame = encode_event(bench_event(7, datetime.now(UTC)))
    assert b'"body":{"k":7,"t":' in frame


def test_a_frame_counts_when_the_chunk_completing_it_arrives() -> None:
    first, second = _frame(3, 1_000), _frame(3, 2_000)
    wire = _chunked(first + second) + _chunked(lagged(4)) + _chunked(_frame(0, 500))
    split = wire.index(b'"t":2') + 5  # inside the second frame's publish time
    tally = Tally(tag=3)
    rest = parse_chunks(b"", [(10_000, wire[:split]), (50_000, wire[split:])], tally)
    assert list(tally.latencies) == [9_000, 48_000]
    assert tally.other == 1 and tally.lagged == 1
    assert rest == b"\r\n"


def test_an_incomplete_frame_waits_for_the_next_chunks() -> None:
    frame = _chunked(_frame(1, 100))
    tally = Tally(tag=1)
    rest = parse_chunks(b"", [(200, frame[:40])], tally)
    assert not tally.latencies and rest == frame[:40]
    parse_chunks(rest, [(300, frame[40:])], tally)
    assert list(tally.latencies) == [200]


def test_the_plan_tags_the_warmup_and_spreads_events_over_time() -> None:
    plan = Plan(rate=10.0, warmup=5, measured=20, tag=4)
    assert plan.total == 25
    assert [plan.tag_of(n) for n in (0, 4, 5, 24)] == [0, 0, 4, 4]
    assert plan.due(-0.1) == 0 and plan.due(0.0) == 1 and plan.due(0.35) == 4 and plan.due(60) == 25


async def test_the_publisher_publishes_every_event_in_order() -> None:
    tags: list[int] = []

    async def publish(tag: int) -> None:
        tags.append(tag)

    report = await publish_on_schedule(Plan(rate=2000.0, warmup=10, measured=30, tag=2), publish)
    assert tags == [0] * 10 + [2] * 30
    assert report.measured == 30 and report.warmup == 10 and report.seconds >= 30 / 2000


def _step(
    latencies_ms: list[float], published: int = 10, subscribers: int = 10, late: float = 0.0
) -> StepResult:
    return StepResult(
        implementation="tidegate",
        rate=100.0,
        subscribers=subscribers,
        published=published,
        seconds=published / 100,
        delivered=len(latencies_ms),
        latencies_ns=sorted(int(ms * 1e6) for ms in latencies_ms),
        lagged=0,
        lost=0,
        publisher_late_p99_ms=late,
        server_cpu_share=None,
        client_cpu_share=None,
        server_cpu_us=None,
    )


def test_a_step_passes_on_p99_within_the_target() -> None:
    step = _step([1.0] * 99 + [LATENCY_TARGET_MS + 50])
    assert step.latency_ms(50) == 1.0 and step.latency_ms(99) == 1.0
    assert step.passed and step.verdict == "ok" and step.delivered_rate == 1000.0


def test_a_slow_tail_fails_the_step() -> None:
    step = _step([1.0] * 98 + [LATENCY_TARGET_MS + 1] * 2)
    assert not step.passed and step.verdict.startswith("p99 >")


def test_missing_deliveries_count_as_infinitely_late() -> None:
    step = _step([1.0] * 98)
    assert math.isinf(step.latency_ms(99)) and step.behind and step.verdict == "behind"


def test_a_late_publisher_means_the_server_fell_behind() -> None:
    step = _step([1.0] * 100, late=LATENCY_TARGET_MS + 1)
    assert step.behind and not step.passed
