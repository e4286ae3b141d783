"""Sequential ``gateway.dispatch`` calls in this process: the pipeline's own cost, without HTTP.

Actions are built up front (one new id each, as the HTTP layer would give them), a short warm-up runs
first, and each measured call is timed on its own with ``perf_counter``. The event loop is uvloop, as
under ``tidegate serve``."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvloop

from _config import DISPATCH_BODY, Backend, bench_settings
from _stats import percentile
from tidegate.model.action import Action
from tidegate.model.caller import ANONYMOUS
from tidegate.model.ids import new_id
from tidegate.services import close_services, open_services

__all__ = ["InProcResult", "build_actions", "measure"]

WARMUP = 1000


@dataclass(frozen=True, slots=True)
class InProcResult:
    backend: Backend
    actions: int
    seconds: float
    cpu_seconds: float  # process CPU time (every thread), so it counts SQLite's worker threads too
    p50_us: float
    p99_us: float

    @property
    def rate(self) -> float:
        return self.actions / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        """CPU time per dispatch: steadier than the rate when other processes share the machine."""
        return self.cpu_seconds / self.actions * 1e6


def build_actions(count: int) -> list[Action]:
    """``count`` copies of the benchmark action, each with its own UUIDv7 id and a receipt time."""
    now = datetime.now(UTC)
    body = DISPATCH_BODY
    return [
        Action(
            id=new_id(),
            namespace=str(body["namespace"]),
            tenant=str(body["tenant"]),
            provider=str(body["provider"]),
            action_type=str(body["action_type"]),
            payload=body["payload"],
            created_at=now,
        )
        for _ in range(count)
    ]


async def _run(backend: Backend, directory: Path, count: int) -> InProcResult:
    services = await open_services(bench_settings(directory, backend))
    try:
        gateway = services.gateway
        actions = build_actions(WARMUP + count)
        for action in actions[:WARMUP]:
            await gateway.dispatch(action, ANONYMOUS)
        latencies = [0.0] * count
        clock = time.perf_counter
        cpu_started = time.process_time()
        started = clock()
        for i, action in enumerate(actions[WARMUP:]):
            before = clock()
            await gateway.dispatch(action, ANONYMOUS)
            latencies[i] = clock() - before
        elapsed = clock() - started
        cpu = time.process_time() - cpu_started
    finally:
        await close_services(services)
    latencies.sort()
    p50, p99 = percentile(latencies, 50) * 1e6, percentile(latencies, 99) * 1e6
    return InProcResult(backend, count, elapsed, cpu, p50, p99)


def measure(backend: Backend, directory: Path, count: int) -> InProcResult:
    """Open the services for ``backend`` (files under ``directory``), dispatch, close; on a uvloop loop."""
    logging.getLogger().setLevel(logging.WARNING)  # the log provider logs at debug: keep it silent
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run(backend, directory, count))
