"""Backends benchmark: dispatch on Redis, PostgreSQL, SQLite and memory, in-process and over HTTP.

``make bench`` runs it after dispatch.py; ``--help`` lists the options and bench/README.md says what each
figure means. The in-process table has the layout of the published reference figures (sequential
dispatch, no rules, one provider) plus the same dispatches 32 at a time; the HTTP table serves Redis state
+ PostgreSQL audit with 1 and 2 uvicorn workers. Redis keys and PostgreSQL tables live under a prefix and
a schema of this run's own, removed when it returns, as are every server and temp file, Ctrl-C included.
Exit status: 0 when it ran (targets met or not), 1 when a measurement failed (a backend error, a stalled
run, writes the backends failed and the spool took) or an audit row check found a mismatch, 130 when
interrupted."""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from asyncpg import PostgresError
from redis.exceptions import RedisError

from _backends_config import (
    COMBOS,
    HTTP_COMBO,
    POSTGRES_URL,
    REDIS_URL,
    Combo,
    Namespace,
    isolated,
    new_namespace,
)
from _backends_floor import Floor, measure_floor
from _backends_http import HttpRun, HttpShape, run_http
from _backends_inproc import ComboResult, measure_combo, run_interruptible
from _backends_report import BackendsFigures, BackendsShape, render_json, render_table
from _loadgen import Loadgen, pick_loadgen
from _run import busy_load_average, cpus, handle_sigterm, progress
from tidegate.errors import TidegateError

_NAMES = tuple(combo.name for combo in COMBOS)
#: Errors that end a measurement (a backend that failed, a stalled run), reported rather than raised.
_FAILURES = (RuntimeError, OSError, ValueError, TidegateError, PostgresError, RedisError)
_PORTS = {"redis": 6379, "postgresql": 5432, "postgres": 5432}


def _answers(url: str) -> bool:
    """Whether a TCP connection to the URL's host and port opens within a second."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or _PORTS.get(parts.scheme, 0))
    try:
        with socket.create_connection(address, timeout=1.0):
            return True
    except OSError:
        return False


def _combos(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in _NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(_NAMES)} (comma-separated)")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Tidegate backends benchmark (see bench/README.md).")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run, about 20 s: N=1,000, 1 s warm-up and one 2 s round per HTTP server",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--n", type=int, help="in-process dispatches per combination and mode (default 10,000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="dispatchers of the concurrent column (default 32)"
    )
    parser.add_argument(
        "--combos",
        type=_combos,
        default=_NAMES,
        help=f"state/audit combinations (default {','.join(_NAMES)})",
    )
    parser.add_argument(
        "--audit-async",
        action="store_true",
        help="audit.sync false: answer before the audit record is committed (default: committed first)",
    )
    parser.add_argument("--skip-http", action="store_true", help="only the in-process figures")
    parser.add_argument("--skip-inproc", action="store_true", help="only the HTTP figures")
    parser.add_argument(
        "--workers", default="1,2", help="uvicorn worker counts served over HTTP (default 1,2)"
    )
    parser.add_argument("--duration", type=float, help="measured seconds per server, all rounds (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up load per server (default 3)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per server (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="HTTP connections (default 32)")
    parser.add_argument(
        "--loadgen", choices=("auto", "wrk", "python"), default="auto", help="default: wrk when installed"
    )
    parser.add_argument("--redis-url", default=REDIS_URL, help=f"default {REDIS_URL}")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help=f"default {POSTGRES_URL}")
    return parser


def _worker_counts(parser: argparse.ArgumentParser, text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        parser.error(f"--workers: not a list of numbers: {text!r}")
    if not counts or min(counts) < 1 or len(set(counts)) != len(counts):
        parser.error("--workers: distinct counts >= 1, e.g. 1,2")
    return counts


def _shapes(argv: list[str] | None) -> tuple[argparse.Namespace, BackendsShape, HttpShape]:
    parser = _parser()
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.n if args.n is not None else (1_000 if quick else 10_000)
    duration = args.duration if args.duration is not None else (2.0 if quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if quick else 3.0)
    rounds = args.rounds if args.rounds is not None else (1 if quick else 2)
    if min(n, args.concurrency, args.connections, rounds) < 1 or warmup < 0 or duration / rounds < 1:
        parser.error(
            "--n, --concurrency, --connections and --rounds must be >= 1, --warmup >= 0, "
            "--duration >= 1 s per round"
        )
    if args.skip_http and args.skip_inproc:
        parser.error("--skip-http and --skip-inproc leave nothing to run")
    server_cpu, load_cpu = cpus()
    shape = BackendsShape(
        n, args.concurrency, not args.audit_async, busy_load_average(), args.redis_url, args.postgres_url
    )
    http = HttpShape(
        _worker_counts(parser, args.workers), args.connections, warmup, duration, rounds, server_cpu, load_cpu
    )
    return args, shape, http


def _reachable(shape: BackendsShape) -> dict[str, bool]:
    return {"redis": _answers(shape.redis_url), "postgres": _answers(shape.postgres_url)}


def _missing(combo: Combo, reachable: dict[str, bool], shape: BackendsShape) -> str | None:
    urls = {"redis": shape.redis_url, "postgres": shape.postgres_url}
    down = sorted(service for service in combo.needs if not reachable[service])
    if not down:
        return None
    return ", ".join(f"{service} not reachable at {urls[service]}" for service in down)


def _floor(namespace: Namespace, services: frozenset[str]) -> Floor:
    return run_interruptible(lambda _: measure_floor(namespace, services))


def run_in_process(
    shape: BackendsShape, root: Path, combos: list[Combo], reachable: dict[str, bool]
) -> tuple[dict[str, Floor], list[ComboResult], dict[str, str]]:
    """Each combination in a namespace of its own: first its backends' round trips alone, then its
    dispatches, so the floor and the figures it bounds are taken under the same load of the machine."""
    floors: dict[str, Floor] = {}
    results: list[ComboResult] = []
    skipped: dict[str, str] = {}
    for combo in combos:
        why = _missing(combo, reachable, shape)
        if why is not None:
            progress(f"in-process: {combo.name}: skipped ({why})")
            skipped[combo.name] = why
            continue
        progress(
            f"in-process: {combo.name}: {shape.n:,} sequential, then {shape.n:,} by "
            f"{shape.concurrency} concurrent dispatchers"
        )
        namespace = new_namespace(shape.redis_url, shape.postgres_url)
        try:
            with isolated(namespace, combo.needs):
                if combo.needs:
                    floors[combo.name] = _floor(namespace, combo.needs)
                result = measure_combo(
                    combo,
                    root / combo.name.replace("/", "-"),
                    namespace,
                    count=shape.n,
                    concurrency=shape.concurrency,
                    audit_sync=shape.audit_sync,
                )
        except _FAILURES as exc:  # the other combinations still run; the exit status says it failed
            progress(f"in-process: {combo.name}: FAILED: {exc}")
            skipped[combo.name] = f"FAILED: {exc}"
            continue
        if result.write_failures:
            progress(f"in-process: {combo.name}: {result.write_failures} writes failed and were spooled")
        results.append(result)
    return floors, results, skipped


def _http(
    shape: BackendsShape, http_shape: HttpShape, root: Path, loadgen: Loadgen, reachable: dict[str, bool]
) -> tuple[list[HttpRun], str | None]:
    why = _missing(HTTP_COMBO, reachable, shape)
    if why is not None:
        progress(f"http: skipped ({why})")
        return [], why
    namespaces = {w: new_namespace(shape.redis_url, shape.postgres_url) for w in http_shape.workers}
    return run_http(http_shape, root, loadgen, namespaces), None


def main(argv: list[str] | None = None) -> int:
    args, shape, http_shape = _shapes(argv)
    handle_sigterm()
    combos = [combo for combo in COMBOS if combo.name in args.combos]
    try:
        loadgen = None if args.skip_http else pick_loadgen(args.loadgen)
        reachable = _reachable(shape)
        with tempfile.TemporaryDirectory(prefix="tidegate-bench-backends-") as tmp:
            root = Path(tmp)
            floors, inproc, skipped = (
                ({}, [], {}) if args.skip_inproc else run_in_process(shape, root, combos, reachable)
            )
            http: list[HttpRun] = []
            if loadgen is not None:
                http, why = _http(shape, http_shape, root, loadgen, reachable)
                if why is not None:
                    skipped["http"] = why
    except KeyboardInterrupt:
        progress("interrupted: servers stopped, keys, tables and temp files removed")
        return 130
    except _FAILURES as exc:
        progress(f"benchmark failed: {exc}")
        return 1
    figures = BackendsFigures(floors, inproc, skipped, loadgen, None if loadgen is None else http_shape, http)
    print(render_json(shape, figures) if args.json else render_table(shape, figures))
    failed = any(why.startswith("FAILED") for why in skipped.values())
    failed = failed or any(result.write_failures for result in inproc)
    return 0 if all(run.audit_ok for run in http) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
