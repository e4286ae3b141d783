"""Server memory per stalled subscriber, for each implementation in a fresh server process.

A fresh process per implementation, because memory freed by earlier streams would be reused and hide the
cost. In each: one reading stream stays open throughout; the publisher first fills Tidegate's replay
window (so the event log is at its steady size and later events replace earlier ones), then the resident
set is read (base); N stalled streams open (idle); E more events are published, filling the stalled
streams' kernel buffers, transport buffers and queues; once the queues stop changing it is read again
(stalled). Kernel socket buffers are not part of the resident set."""

from __future__ import annotations

import time
from pathlib import Path

from _config import stream_settings
from _control import (
    IMPLEMENTATIONS,
    Implementation,
    QueueState,
    prepare,
    publish,
    queue_state,
    stream_path,
    wait_for_subscribers,
)
from _run import progress
from _server import Server, serve
from _sse_clients import sse_clients
from _stalled import stalled_streams
from _stream_report import MemoryResult, StreamShape

__all__ = ["run_memory"]

STALL_RATE = 4_000.0  # events/s to the stalled streams: live writers keep up, so only stalled ones drop
WINDOW_RATE = 20_000.0  # events/s filling the replay window: one reading stream, far from its queue bound
_SETTLE_SECONDS = 0.5
_STABLE_TIMEOUT = 10.0


def _rss(server: Server) -> int:
    kib = server.rss_kib()
    if kib is None:
        raise RuntimeError("the server's resident set is unknown (no /proc)")
    return kib


def _settled(server: Server, implementation: Implementation) -> QueueState:
    """The queue state once two readings 0.5 s apart agree (the writers have stopped moving frames)."""
    deadline = time.monotonic() + _STABLE_TIMEOUT
    previous = queue_state(server, implementation)
    while True:
        time.sleep(_SETTLE_SECONDS)
        current = queue_state(server, implementation)
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current


def _fill(server: Server, implementation: Implementation, events: int, rate: float, tag: int) -> None:
    publish(server, implementation, rate=rate, warmup=0, seconds=events / rate, tag=tag)


def measure_one(implementation: Implementation, shape: StreamShape, root: Path) -> MemoryResult:
    directory = root / f"memory-{implementation}"
    window = stream_settings(directory).stream.replay_max_events
    with (
        serve("stream", directory, cpu=shape.server_cpu) as server,
        sse_clients(
            server.host, server.port, processes=1, cpu=shape.load_cpu, workdir=directory / "clients"
        ) as reader,
    ):
        prepare(server, implementation)
        path = stream_path(implementation)
        reader.open(path, 1)
        wait_for_subscribers(server, implementation, 1)
        _fill(server, implementation, window, WINDOW_RATE, tag=1)
        _settled(server, implementation)
        base = _rss(server)
        with stalled_streams(server.host, server.port, path, shape.stalled):
            wait_for_subscribers(server, implementation, shape.stalled + 1)
            time.sleep(_SETTLE_SECONDS)
            idle = _rss(server)
            _fill(server, implementation, shape.stall_events, STALL_RATE, tag=2)
            state = _settled(server, implementation)
            stalled = _rss(server)
        reader.close()
    queued = sorted(state.queued)[1:]  # without the reader's, which keeps its queue empty
    return MemoryResult(
        implementation=implementation,
        subscribers=shape.stalled,
        events=shape.stall_events,
        base_kib=base,
        idle_kib=idle,
        stalled_kib=stalled,
        queued_min=min(queued, default=0),
        queued_max=max(queued, default=0),
        capacity=state.capacity,
        dropped=state.dropped,
    )


def run_memory(shape: StreamShape, root: Path) -> list[MemoryResult]:
    results = []
    for implementation in IMPLEMENTATIONS:
        progress(f"memory: {implementation}: {shape.stalled} stalled streams, {shape.stall_events:,} events")
        results.append(measure_one(implementation, shape, root))
    return results
