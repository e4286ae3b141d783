"""The fan-out series: each implementation at rising publish rates, until it misses the latency target.

At every step the implementations take turns (bare, tidegate, sse-starlette), so a machine whose speed
drifts slows all of them alike. Each turn opens fresh streams, runs the server's publisher (a warm-up,
then the measured events), collects every delivery from the clients, and closes the streams; the server
must be back to zero subscribers before the next turn. A failing step is run once more, so one passing
disturbance on a shared machine does not end a series; a series stops at the first step failing twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from _control import IMPLEMENTATIONS, Implementation, prepare, publish, stream_path, wait_for_subscribers
from _run import progress
from _server import Server, serve
from _sse_clients import SseClients, sse_clients
from _stream_report import StepResult, StreamShape

__all__ = ["run_fanout"]

QUIET_SECONDS = 0.3  # no byte for this long: the clients have everything that was on its way
DRAIN_SECONDS = 5.0  # a delivery later than this after the publisher stopped counts as lost


def _share(before: float | None, after: float | None, wall: float) -> float | None:
    return (after - before) / wall if before is not None and after is not None and wall > 0 else None


def run_step(
    server: Server,
    clients: SseClients,
    implementation: Implementation,
    rate: float,
    tag: int,
    shape: StreamShape,
) -> StepResult:
    """One implementation at one rate, on fresh streams."""
    prepare(server, implementation)
    clients.open(stream_path(implementation), shape.subscribers)
    try:
        wait_for_subscribers(server, implementation, shape.subscribers)
        server_before, clients_before, started = server.cpu_seconds(), clients.cpu_seconds(), time.monotonic()
        report = publish(
            server, implementation, rate=rate, warmup=shape.warmup, seconds=shape.seconds, tag=tag
        )
        server_published, clients_published = server.cpu_seconds(), clients.cpu_seconds()
        wall = time.monotonic() - started
        collected = clients.collect(tag, report.measured, quiet=QUIET_SECONDS, timeout=DRAIN_SECONDS)
        server_after = server.cpu_seconds()
    finally:
        clients.close()
    wait_for_subscribers(server, implementation, 0)
    deliveries = collected.delivered + collected.other
    server_cpu_us = None
    if server_before is not None and server_after is not None and deliveries:
        server_cpu_us = (server_after - server_before) / deliveries * 1e6
    return StepResult(
        implementation=implementation,
        rate=rate,
        subscribers=shape.subscribers,
        published=report.measured,
        seconds=report.seconds,
        delivered=collected.delivered,
        latencies_ns=collected.latencies_ns,
        lagged=collected.lagged,
        lost=collected.lost,
        publisher_late_p99_ms=report.late_p99_ms,
        server_cpu_share=_share(server_before, server_published, wall),
        client_cpu_share=_share(clients_before, clients_published, wall),
        server_cpu_us=server_cpu_us,
    )


def run_fanout(
    shape: StreamShape, root: Path, on_step: Callable[[StepResult], None] | None = None
) -> list[StepResult]:
    """Every series on one server and one set of client processes."""
    results: list[StepResult] = []
    stopped: set[Implementation] = set()
    progress("fan-out: starting the stream server and the clients")
    with (
        serve("stream", root / "fanout", cpu=shape.server_cpu) as server,
        sse_clients(
            server.host, server.port, processes=shape.clients, cpu=shape.load_cpu, workdir=root / "clients"
        ) as clients,
    ):
        tag = 0
        for rate in shape.steps:
            for implementation in IMPLEMENTATIONS:
                if implementation in stopped:
                    continue
                step: StepResult | None = None
                for attempt in (1, 2):
                    tag += 1
                    again = " (once more)" if attempt == 2 else ""
                    progress(f"fan-out: {implementation}: {rate:g} events/s x {shape.subscribers:,}{again}")
                    step = replace(
                        run_step(server, clients, implementation, rate, tag, shape), attempts=attempt
                    )
                    if on_step is not None:
                        on_step(step)
                    if step.passed:
                        break
                assert step is not None
                results.append(step)
                if not step.passed:
                    stopped.add(implementation)
            if len(stopped) == len(IMPLEMENTATIONS):
                break
    return results
