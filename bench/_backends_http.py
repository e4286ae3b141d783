"""``POST /v1/dispatch`` against real ``tidegate serve`` processes on Redis state + PostgreSQL audit.

Each server is ``python -m tidegate serve --config FILE`` (so ``server.workers`` > 1 runs uvicorn's
worker processes exactly as in production), with its own key prefix and schema. With one worker the
server is pinned to the first CPU and the load generator to the second; with more workers nothing is
pinned: the workers, the load generator, Redis and PostgreSQL share every CPU. Servers take turns
round by round (as in ``dispatch.py``), so a drift of the machine's speed hits them alike.

After the load, each server is stopped gracefully and its audit rows are counted: there must be one per
2xx response, plus at most one per connection and run for the requests in flight when wrk stopped
(wrk does not count them; the server completes and audits them)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import orjson

from _backends_config import HTTP_COMBO, Namespace, combo_values, isolated, write_config
from _config import DISPATCH_BODY
from _loadgen import Loadgen, LoadResult, combine, run_load
from _proc import cpu_seconds, memory_kib
from _run import pinned, progress
from _server import Server, _free_port
from tidegate.postgres.names import TableNames

__all__ = ["HttpRun", "HttpShape", "process_tree", "run_http", "tree_cpu_seconds"]

_STOP_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class HttpShape:
    workers: tuple[int, ...]
    connections: int
    warmup: float
    duration: float
    rounds: int
    server_cpu: int | None
    load_cpu: int | None


@dataclass(frozen=True, slots=True)
class HttpRun:
    """One server's figures: the measured rounds combined, and the audit row check over all its load."""

    workers: int
    pinned: bool
    result: LoadResult
    cpu_us: float | None  # CPU of the server's processes per request (all workers), None without /proc
    peak_rss_mb: float | None
    audit_rows: int
    ok_responses: int  # 2xx over every run, warm-up included
    in_flight_bound: int

    @property
    def audit_ok(self) -> bool:
        return 0 <= self.audit_rows - self.ok_responses <= self.in_flight_bound


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's workers), read from /proc; [] without it."""
    children: dict[int, list[int]] = {}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of ``pid`` and its descendants (still running ones; exited ones are not seen)."""
    seconds = [cpu_seconds(p) for p in process_tree(pid)]
    known = [s for s in seconds if s is not None]
    return sum(known) if known else None


def _tree_peak_rss_mb(pid: int) -> float | None:
    """The sum of every server process's peak resident set (``VmHWM``)."""
    kib = [memory_kib(p, "VmHWM") for p in process_tree(pid)]
    known = [k for k in kib if k is not None]
    return sum(known) / 1024 if known else None


@dataclass
class _Served:
    workers: int
    server: Server
    namespace: Namespace
    pinned: bool
    warmups: list[LoadResult] = field(default_factory=list)
    rounds: list[LoadResult] = field(default_factory=list)
    cpu_seconds: float | None = 0.0


@contextmanager
def _tidegate(directory: Path, namespace: Namespace, workers: int, cpu: int | None) -> Iterator[Server]:
    """``tidegate serve`` on the HTTP combination with ``workers``; stopped (and reaped) on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    values = combo_values(HTTP_COMBO, directory, namespace)
    values["server"] = {"workers": workers, "shutdown_timeout_seconds": 5}
    config = write_config(directory / "tidegate.yaml", values)
    port = _free_port()
    log = directory / "server.log"
    command = [sys.executable, "-m", "tidegate", "serve", "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=pinned(cpu),
        )
    server = Server("tidegate", port, process, log)
    try:
        server.wait_ready()
        yield server
    finally:
        _stop(server)


def _stop(server: Server) -> int:
    """SIGTERM (uvicorn stops its workers gracefully), then SIGKILL to the whole session if it hangs."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


async def _count_rows(namespace: Namespace) -> int:
    table = TableNames(prefix=namespace.key_prefix).table("audit_records")
    conn = await asyncpg.connect(namespace.scoped_postgres_url, timeout=5)
    try:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return count
    finally:
        await conn.close()


def _measure(served: _Served, load: partial[LoadResult], seconds: float) -> None:
    pid = served.server.process.pid
    before = tree_cpu_seconds(pid)
    served.rounds.append(load(seconds=seconds))
    after = tree_cpu_seconds(pid)
    if before is None or after is None or served.cpu_seconds is None:
        served.cpu_seconds = None
    else:
        served.cpu_seconds += after - before


def _finish(served: _Served, connections: int) -> HttpRun:
    """Stop the server gracefully (its audit queue drains), then count its audit rows."""
    rss = _tree_peak_rss_mb(served.server.process.pid)
    code = _stop(served.server)
    if code not in (0, -signal.SIGTERM):
        raise RuntimeError(f"the {served.workers}-worker server exited with {code} on SIGTERM")
    runs = served.warmups + served.rounds
    result = combine(served.rounds)
    cpu = served.cpu_seconds / result.requests * 1e6 if served.cpu_seconds and result.requests else None
    return HttpRun(
        workers=served.workers,
        pinned=served.pinned,
        result=result,
        cpu_us=cpu,
        peak_rss_mb=rss,
        audit_rows=asyncio.run(_count_rows(served.namespace)),
        ok_responses=sum(r.ok for r in runs),
        in_flight_bound=connections * len(runs) + sum(r.socket_errors for r in runs),
    )


def run_http(
    shape: HttpShape, root: Path, loadgen: Loadgen, namespaces: dict[int, Namespace]
) -> list[HttpRun]:
    """Start one server per worker count, warm each up, measure in interleaved rounds, check the audit."""
    body = orjson.dumps(DISPATCH_BODY)
    per_round = shape.duration / shape.rounds
    with ExitStack() as stack:
        served: list[_Served] = []
        loads: dict[int, partial[LoadResult]] = {}
        for workers in shape.workers:
            namespace = stack.enter_context(isolated(namespaces[workers], HTTP_COMBO.needs))
            pin = workers == 1 and shape.server_cpu is not None
            progress(f"http: starting tidegate serve with {workers} worker(s) (redis state, postgres audit)")
            server = stack.enter_context(
                _tidegate(root / f"http-{workers}", namespace, workers, shape.server_cpu if pin else None)
            )
            served.append(_Served(workers, server, namespace, pin))
            loads[workers] = partial(
                run_load,
                loadgen,
                server.url,
                body,
                connections=shape.connections,
                workdir=root,
                cpu=shape.load_cpu if pin else None,
            )
        if shape.warmup > 0:
            for item in served:
                progress(f"http: {item.workers} worker(s): warming up for {shape.warmup:g} s")
                item.warmups.append(loads[item.workers](seconds=shape.warmup))
        for round_ in range(1, shape.rounds + 1):
            for item in served:
                progress(
                    f"http: round {round_}/{shape.rounds}: {item.workers} worker(s): "
                    f"measuring for {per_round:g} s"
                )
                _measure(item, loads[item.workers], per_round)
        return [_finish(item, shape.connections) for item in served]
