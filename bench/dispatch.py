"""Dispatch benchmark: HTTP throughput against baselines served the same way, and the in-process pipeline.

``make bench`` runs ``python bench/dispatch.py``; ``--help`` lists the options and bench/README.md says
what each figure means. Every child process and temp file is gone when it returns, Ctrl-C included.
Exit status: 0 when it ran, 1 when it failed or the audit check found a mismatch, 130 when interrupted."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import orjson

from _config import DISPATCH_BODY, Backend
from _inproc import InProcResult, measure
from _loadgen import Loadgen, LoadResult, combine, pick_loadgen, run_load
from _report import SERVERS, AuditCheck, HttpFigures, RunShape, render_json, render_table
from _run import busy_load_average, cpus, handle_sigterm, progress
from _server import Server, ServerKind, serve

_SETTLE_TIMEOUT = 10.0
_BACKENDS: tuple[Backend, ...] = ("memory", "sqlite")


def _audit_rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM audit_records").fetchone()[0]
        return count


def _settled_dispatch_count(server: Server) -> int:
    """The server's ``dispatched`` counter once the requests in flight when the load stopped are done."""
    previous = -1
    deadline = time.monotonic() + _SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        metrics = server.get_json("/metrics")
        current = int(metrics["dispatched"]) if isinstance(metrics, dict) else -1
        if current == previous:
            return current
        previous = current
        time.sleep(0.25)
    raise RuntimeError(f"the tidegate server still dispatched {_SETTLE_TIMEOUT:.0f} s after the load stopped")


def _audit_check(server: Server, audit_db: Path, runs: list[LoadResult], connections: int) -> AuditCheck:
    """Read the server's count, stop it gracefully (flushing the audit store), then count the rows."""
    dispatched = _settled_dispatch_count(server)
    code = server.stop()
    if code not in (0, -signal.SIGTERM):  # uvicorn re-raises SIGTERM after a clean shutdown
        raise RuntimeError(f"the tidegate server exited with {code} on SIGTERM")
    return AuditCheck(
        rows=_audit_rows(audit_db),
        dispatched=dispatched,
        ok_responses=sum(r.ok for r in runs),
        in_flight_bound=connections * len(runs) + sum(r.socket_errors for r in runs),
    )


@dataclass
class _Measured:
    """The runs against one server, and its CPU time during the measured ones."""

    warmups: list[LoadResult] = field(default_factory=list)
    rounds: list[LoadResult] = field(default_factory=list)
    cpu_seconds: float | None = 0.0


def _measure_round(
    server: Server, measured: _Measured, load: Callable[..., LoadResult], seconds: float
) -> None:
    before = server.cpu_seconds()
    measured.rounds.append(load(seconds=seconds))
    after = server.cpu_seconds()
    if before is None or after is None or measured.cpu_seconds is None:
        measured.cpu_seconds = None
    else:
        measured.cpu_seconds += after - before


def run_http(shape: RunShape, root: Path, loadgen: Loadgen) -> HttpFigures:
    """Start every server, warm each up, then measure them in interleaved rounds.

    Interleaving (echo, fastapi, tidegate, echo, ...) spreads any drift of the machine's speed over all
    servers alike, so it biases the ratio less than one long run per server would."""
    body = orjson.dumps(DISPATCH_BODY)
    per_round = shape.duration / shape.rounds
    with ExitStack() as stack:
        servers: dict[ServerKind, Server] = {}
        for kind in SERVERS:
            progress(f"http: starting the {kind} server")
            servers[kind] = stack.enter_context(serve(kind, root / kind, cpu=shape.server_cpu))
        loads = {
            kind: partial(
                run_load,
                loadgen,
                server.url,
                body,
                connections=shape.connections,
                workdir=root,
                cpu=shape.load_cpu,
            )
            for kind, server in servers.items()
        }
        measured = {kind: _Measured() for kind in SERVERS}
        if shape.warmup > 0:
            for kind in SERVERS:
                progress(f"http: {kind}: warming up for {shape.warmup:g} s")
                measured[kind].warmups.append(loads[kind](seconds=shape.warmup))
        for round_ in range(1, shape.rounds + 1):
            for kind in SERVERS:
                progress(f"http: round {round_}/{shape.rounds}: {kind}: measuring for {per_round:g} s")
                _measure_round(servers[kind], measured[kind], loads[kind], per_round)
        rss = {kind: server.peak_rss_mb() for kind, server in servers.items()}
        tidegate = measured["tidegate"]
        audit = _audit_check(
            servers["tidegate"],
            root / "tidegate" / "audit.db",
            tidegate.warmups + tidegate.rounds,
            shape.connections,
        )
    results = {kind: combine(m.rounds) for kind, m in measured.items()}
    cpu = {
        kind: m.cpu_seconds / results[kind].requests * 1e6
        for kind, m in measured.items()
        if m.cpu_seconds is not None and results[kind].requests
    }
    return HttpFigures(loadgen, results, rss, cpu, audit)


def run_in_process(shape: RunShape, root: Path) -> list[InProcResult]:
    results = []
    for backend in _BACKENDS:
        progress(f"in-process: {backend}: {shape.n:,} sequential dispatches")
        results.append(measure(backend, root / f"inproc-{backend}", shape.n))
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Tidegate dispatch benchmark (see bench/README.md).")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s warm-up, one 2 s round per server, N=2,000"
    )
    parser.add_argument("--skip-http", action="store_true", help="only the in-process figures")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--n", type=int, help="in-process dispatches per backend (default 20,000)")
    parser.add_argument("--duration", type=float, help="measured seconds per server, all rounds (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up load per server (default 3)")
    parser.add_argument(
        "--rounds", type=int, help="interleaved rounds the measured seconds are split into (default 2)"
    )
    parser.add_argument("--connections", type=int, default=32, help="HTTP connections (default 32)")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when installed, else the Python load generator (default auto)",
    )
    return parser


def _shape(argv: list[str] | None) -> tuple[argparse.Namespace, RunShape]:
    parser = _parser()
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.n if args.n is not None else (2_000 if quick else 20_000)
    duration = args.duration if args.duration is not None else (2.0 if quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if quick else 3.0)
    rounds = args.rounds if args.rounds is not None else (1 if quick else 2)
    if min(n, args.connections, rounds) < 1 or warmup < 0 or duration / max(rounds, 1) < 1:
        parser.error(
            "--n, --connections and --rounds must be >= 1, --warmup >= 0, --duration >= 1 s per round"
        )
    server_cpu, load_cpu = cpus()
    return args, RunShape(
        n, args.connections, warmup, duration, rounds, server_cpu, load_cpu, busy_load_average()
    )


def main(argv: list[str] | None = None) -> int:
    args, shape = _shape(argv)
    handle_sigterm()
    try:
        with tempfile.TemporaryDirectory(prefix="tidegate-bench-") as tmp:
            root = Path(tmp)
            http = None if args.skip_http else run_http(shape, root, pick_loadgen(args.loadgen))
            inproc = run_in_process(shape, root)
    except KeyboardInterrupt:
        progress("interrupted: servers stopped, temp files removed")
        return 130
    except (RuntimeError, OSError, ValueError, sqlite3.Error) as exc:
        progress(f"benchmark failed: {exc}")
        return 1
    print(render_json(shape, http, inproc) if args.json else render_table(shape, http, inproc))
    return 1 if http is not None and not http.audit.passed else 0


if __name__ == "__main__":
    sys.exit(main())
