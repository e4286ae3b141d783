"""``gateway.dispatch`` on one backend combination, in this process: sequential, then concurrent.

The services come from ``open_services`` on the combination's settings, as under ``tidegate serve``
(no app, so no HTTP and CPython's default collector settings). Actions are built up front with one
UUIDv7 id each (``_inproc.build_actions``), a warm-up runs first, and every dispatch is timed on its
own. Sequential: one ``await`` after the other, the mode the published reference figures are taken in.
Concurrent: ``concurrency`` tasks draw from the same list, so up to that many dispatches are in flight
and the group commits and the event log tail can batch. Both run on uvloop, on the same open services.

A write the backends refuse or answer too late (``state.operation_timeout_seconds``) makes the pipeline
spool the record or the events and log an error: those are counted (``write_failures``), since figures
that include the spool's fsyncs do not describe the backend. A series that stalls for ``STALL_SECONDS``
per 1,000 dispatches is abandoned (its tasks cancelled, the services closed) instead of hanging the run.

Ctrl-C and SIGTERM stop a run between two dispatches (``Stop``): the services close as after a normal
run, then KeyboardInterrupt is raised, so the caller removes the keys and tables. A cancellation could
land in ``open_services`` or in a client library's transport callback and leave connections, tasks,
keys and tables behind; a second signal cancels all the same, for a run that no longer makes progress."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from _backends_config import Combo, Namespace, combo_settings
from _inproc import build_actions
from _run import handle_sigterm
from _stats import percentile
from tidegate.model.action import Action
from tidegate.model.caller import ANONYMOUS
from tidegate.pipeline.gateway import Gateway
from tidegate.services import close_services, open_services

__all__ = ["ComboResult", "Run", "Stop", "measure_combo", "run_interruptible"]

T = TypeVar("T")

WARMUP = 500
STALL_SECONDS = 60.0  # per 1,000 dispatches: a series slower than 17 actions/s is not a measurement
_RECORDER_LOG = "tidegate.pipeline.recorder"


@dataclass(frozen=True, slots=True)
class Run:
    """One timed series of dispatches."""

    concurrency: int
    actions: int
    seconds: float
    cpu_seconds: float  # process CPU time, every thread (aiosqlite's too), and the kernel's on our behalf
    p50_us: float
    p99_us: float

    @property
    def rate(self) -> float:
        return self.actions / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.actions * 1e6 if self.actions else 0.0


@dataclass(frozen=True, slots=True)
class ComboResult:
    combo: Combo
    event_log: str  # where the stream events went: local, redis or postgres
    audit_sync: bool
    sequential: Run
    concurrent: Run | None
    write_failures: int = 0  # audit records or stream events spooled because a backend failed a write


@dataclass(slots=True)
class Stop:
    """Set by Ctrl-C or SIGTERM; the dispatch loops look at it before every dispatch."""

    requested: bool = False


class _ErrorCounter(logging.Handler):
    """Counts the recorder's errors: each one is a write a backend failed and the spool took instead."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def _dispatch_all(
    gateway: Gateway, actions: Iterator[Action], latencies: list[float], stop: Stop
) -> None:
    clock = time.perf_counter
    for action in actions:
        if stop.requested:
            return
        before = clock()
        await gateway.dispatch(action, ANONYMOUS)
        latencies.append(clock() - before)


async def _series(gateway: Gateway, count: int, concurrency: int, stop: Stop) -> Run:
    actions = iter(build_actions(count))
    latencies: list[float] = []
    limit = STALL_SECONDS * max(1.0, count / 1000)
    cpu_started = time.process_time()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            if concurrency == 1:
                await _dispatch_all(gateway, actions, latencies, stop)
            else:
                async with asyncio.TaskGroup() as group:
                    for _ in range(concurrency):
                        group.create_task(_dispatch_all(gateway, actions, latencies, stop))
    except TimeoutError:
        raise RuntimeError(
            f"the run stalled: {len(latencies):,} of {count:,} dispatches (concurrency {concurrency}) "
            f"done after {limit:.0f} s"
        ) from None
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    latencies.sort()
    p50, p99 = percentile(latencies, 50) * 1e6, percentile(latencies, 99) * 1e6
    return Run(concurrency, count, elapsed, cpu, p50, p99)


async def _run(
    combo: Combo,
    directory: Path,
    namespace: Namespace,
    count: int,
    concurrency: int,
    audit_sync: bool,
    stop: Stop,
) -> ComboResult | None:
    """The figures of ``combo``, or None when stopped (the services are closed either way)."""
    settings = combo_settings(combo, directory, namespace, audit_sync=audit_sync)
    services = await open_services(settings)
    failures = _ErrorCounter()
    recorder_log = logging.getLogger(_RECORDER_LOG)
    recorder_log.addHandler(failures)
    try:
        gateway = services.gateway
        await _dispatch_all(gateway, iter(build_actions(WARMUP)), [], stop)
        sequential = await _series(gateway, count, 1, stop)
        concurrent = await _series(gateway, count, concurrency, stop) if concurrency > 1 else None
    finally:
        recorder_log.removeHandler(failures)
        await close_services(services)
    if stop.requested:
        return None
    return ComboResult(
        combo, settings.stream_backend, audit_sync, sequential, concurrent, write_failures=failures.count
    )


def measure_combo(
    combo: Combo,
    directory: Path,
    namespace: Namespace,
    *,
    count: int,
    concurrency: int,
    audit_sync: bool = True,
) -> ComboResult:
    """Open the services of ``combo`` (files under ``directory``, shared data under ``namespace``),
    measure, close; on a fresh uvloop loop. Raises KeyboardInterrupt when stopped by a signal."""
    logging.getLogger().setLevel(logging.WARNING)  # the log provider logs at debug: keep it silent
    result = run_interruptible(
        lambda stop: _run(combo, directory, namespace, count, concurrency, audit_sync, stop)
    )
    if result is None:
        raise KeyboardInterrupt
    return result


def run_interruptible(main: Callable[[Stop], Coroutine[Any, Any, T]]) -> T:
    """``main(stop)`` on a fresh uvloop loop, with Ctrl-C and SIGTERM setting ``stop`` (see the module
    docstring); raises KeyboardInterrupt after the loop is closed when either arrived."""
    stop = Stop()

    async def supervised() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal() -> None:
            if stop.requested:
                task.cancel()  # the second signal: stop waiting for the run to notice
            stop.requested = True

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
        try:
            return await main(stop)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)  # restores the defaults, not the scripts' handler
            handle_sigterm()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            result = runner.run(supervised())
        except asyncio.CancelledError:
            if stop.requested:
                raise KeyboardInterrupt from None
            raise
    if stop.requested:
        raise KeyboardInterrupt
    return result
