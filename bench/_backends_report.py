"""The figures of one backends.py run, the verdicts, and their two renderings: the table and ``--json``."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from _backends_config import Combo
from _backends_floor import Floor, ceiling, waits
from _backends_http import HttpRun, HttpShape
from _backends_inproc import ComboResult, Run
from _loadgen import PYTHON, Loadgen
from _machine import busy_note, machine_info, machine_lines

__all__ = ["BackendsFigures", "BackendsShape", "render_json", "render_table", "verdict"]

TARGET_FACTOR = 2.0  # sequential actions/s over the published reference figure

_LABELS = {
    "redis/none": "Redis (audit off)",
    "redis/postgres": "Redis + PostgreSQL audit",
    "postgres/postgres": "PostgreSQL + PostgreSQL audit",
    "sqlite/sqlite": "SQLite + SQLite audit (default)",
    "memory/none": "memory (audit off)",
}
_WIDTH = 32


@dataclass(frozen=True, slots=True)
class BackendsShape:
    n: int
    concurrency: int
    audit_sync: bool
    load_average: float
    redis_url: str
    postgres_url: str


@dataclass(frozen=True, slots=True)
class BackendsFigures:
    floors: dict[str, Floor]  # combination name -> its backends' round trips, measured just before it
    inproc: list[ComboResult]
    skipped: dict[str, str]  # combination name -> why it did not run
    loadgen: Loadgen | None
    http_shape: HttpShape | None
    http: list[HttpRun]


def verdict(combo: Combo, rate: float) -> str | None:
    """``met``/``MISSED`` against twice the reference figure; None for a combination without one."""
    if combo.target is None:
        return None
    return "met" if rate >= combo.target else "MISSED"


def _ratio(combo: Combo, run: Run) -> float | None:
    return run.rate / combo.reference if combo.reference else None


def _ceiling(figures: BackendsFigures, result: ComboResult) -> float | None:
    floor = figures.floors.get(result.combo.name)
    return ceiling(result.combo, floor, result.audit_sync) if floor is not None else None


def _floor_lines(figures: BackendsFigures) -> list[str]:
    """The round trips behind each floor/s figure."""
    lines = []
    for result in figures.inproc:
        floor = figures.floors.get(result.combo.name)
        if floor is None or _ceiling(figures, result) is None:
            continue
        trips = []
        if floor.redis_us is not None:
            trips.append(f"Redis round trip {floor.redis_us:,.0f} µs")
        if floor.postgres_commit_us is not None:
            trips.append(f"durable PostgreSQL commit {floor.postgres_commit_us:,.0f} µs")
        lines.append(f"    {result.combo.name:<19}{', '.join(trips)}")
    if not lines:
        return []
    return [
        "",
        "  floor/s: 1 / (the slowest of the writes one sequential dispatch waits for, side by side: the",
        "  event log append, the audit commit), each timed alone just before the combination:",
        *lines,
    ]


def _opt(value: float | None, width: int, spec: str = ",.0f", suffix: str = "") -> str:
    text = "-" if value is None else f"{value:{spec}}{suffix}"
    return f"{text:>{width}}"


def _header(shape: BackendsShape, figures: BackendsFigures) -> list[str]:
    lines = machine_lines("Tidegate backends benchmark") + busy_note(shape.load_average)
    lines.append(
        "  setup     no rules, provider log; the event log follows the state backend; "
        + ("audit.sync true (committed before the answer)" if shape.audit_sync else "audit.sync FALSE")
    )
    return lines


def _row(label: str, result: ComboResult, run: Run, extra: str) -> str:
    figures = f"{run.rate:>10,.0f}{run.p50_us:>9.0f}{run.p99_us:>9.0f}{run.cpu_us:>9.0f}"
    return f"  {label:<{_WIDTH}}{result.event_log:>9}{figures}{extra}"


def _sequential_lines(shape: BackendsShape, figures: BackendsFigures) -> list[str]:
    if not figures.inproc and not set(figures.skipped) & set(_LABELS):
        return []
    title = f"In-process gateway.dispatch, SEQUENTIAL, N={shape.n:,} (like the reference)"
    columns = f"{'events':>9}{'actions/s':>10}{'p50 µs':>9}{'p99 µs':>9}{'CPU µs':>9}"
    columns += f"{'floor/s':>9}{'ref/s':>8}{'× ref':>7}  target 2× ref"
    lines = ["", title, f"  {'state + audit':<{_WIDTH}}{columns}"]
    for result in figures.inproc:
        combo, run = result.combo, result.sequential
        top = _ceiling(figures, result)
        ratio = _ratio(combo, run)
        mark = verdict(combo, run.rate)
        extra = _opt(top, 9) + _opt(combo.reference, 8) + _opt(ratio, 7, ".2f", "×")
        if mark is not None and combo.target is not None:
            extra += f"  >= {combo.target:,.0f}: {mark}"
        if result.write_failures:
            extra += f"  ({result.write_failures} writes FAILED and were spooled: not representative)"
        lines.append(_row(_LABELS[combo.name], result, run, extra))
    for name, why in figures.skipped.items():
        if name in _LABELS:
            status = why if why.startswith("FAILED") else f"skipped: {why}"
            lines.append(f"  {_LABELS[name]:<{_WIDTH}}  {status}")
    return lines


def _concurrent_lines(shape: BackendsShape, figures: BackendsFigures) -> list[str]:
    runs = [(r, r.concurrent) for r in figures.inproc if r.concurrent is not None]
    if not runs:
        return []
    title = (
        f"In-process gateway.dispatch, {shape.concurrency} CONCURRENT dispatchers on one loop, N={shape.n:,}"
    )
    columns = f"{'events':>9}{'actions/s':>10}{'p50 µs':>9}{'p99 µs':>9}{'CPU µs':>9}"
    columns += f"{'× seq':>7}{'× ref':>7}   (the reference figures are sequential)"
    lines = ["", title, f"  {'state + audit':<{_WIDTH}}{columns}"]
    for result, run in runs:
        speedup = run.rate / result.sequential.rate if result.sequential.rate else None
        extra = _opt(speedup, 7, ".1f", "×") + _opt(_ratio(result.combo, run), 7, ".2f", "×")
        lines.append(_row(_LABELS[result.combo.name], result, run, extra))
    return lines


def _http_lines(figures: BackendsFigures) -> list[str]:
    shape = figures.http_shape
    if "http" in figures.skipped:
        return ["", f"HTTP: skipped ({figures.skipped['http']})"]
    if shape is None or not figures.http:
        return []
    per_round = shape.duration / shape.rounds
    lines = [
        "",
        "HTTP POST /v1/dispatch, tidegate serve, Redis state + PostgreSQL audit (event log on Redis)",
        f"  load      {figures.loadgen}, 1 thread, {shape.connections} connections; per server "
        f"{shape.warmup:g} s warm-up, then {shape.rounds} interleaved round(s) of {per_round:g} s",
    ]
    if figures.loadgen == PYTHON:
        lines.append(
            "  NOTE      wrk not found: the Python load generator was used; it may be the bottleneck"
        )
    columns = f"{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}{'RSS MB':>8}"
    columns += "  audit rows (after a graceful stop)"
    lines.append(f"  {'server':<{_WIDTH}}{columns}")
    for run in figures.http:
        where = "pinned to CPU " + str(shape.server_cpu) if run.pinned else "unpinned"
        label = f"{run.workers} worker{'s' if run.workers > 1 else ''} ({where})"
        r = run.result
        figures_text = f"{r.rate:>10,.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
        figures_text += _opt(run.cpu_us, 12) + _opt(run.peak_rss_mb, 8)
        extra = run.audit_rows - run.ok_responses
        check = "OK" if run.audit_ok else "MISMATCH"
        errors = (
            f", {r.non_2xx} non-2xx, {r.socket_errors} socket errors" if r.non_2xx or r.socket_errors else ""
        )
        lines.append(
            f"  {label:<{_WIDTH}}{figures_text}  {run.audit_rows:,} = {run.ok_responses:,} 2xx "
            f"+ {extra} in flight: {check}{errors}"
        )
    if any(run.workers > 1 for run in figures.http):
        lines.append(
            "  NOTE      with 2+ workers the server, wrk, Redis and PostgreSQL all share this machine's "
            f"{machine_info()['cpus']} CPUs"
        )
    return lines


def render_table(shape: BackendsShape, figures: BackendsFigures) -> str:
    lines = _header(shape, figures)
    lines += _sequential_lines(shape, figures)
    lines += _concurrent_lines(shape, figures)
    lines += _floor_lines(figures)
    lines += _http_lines(figures)
    return "\n".join(lines)


def _run_json(combo: Combo, run: Run) -> dict[str, object]:
    return {
        "concurrency": run.concurrency,
        "actions": run.actions,
        "seconds": run.seconds,
        "actions_per_second": run.rate,
        "cpu_us_per_action": run.cpu_us,
        "p50_us": run.p50_us,
        "p99_us": run.p99_us,
        "ratio_to_reference": _ratio(combo, run),
    }


def _combo_json(result: ComboResult, floor: Floor | None) -> dict[str, object]:
    combo = result.combo
    redis, commits = waits(combo, result.audit_sync)
    return {
        "state": combo.state,
        "audit": combo.audit,
        "event_log": result.event_log,
        "audit_sync": result.audit_sync,
        "write_failures": result.write_failures,
        "reference_per_second": combo.reference,
        "target_per_second": combo.target,
        "met": None if combo.target is None else result.sequential.rate >= combo.target,
        "waits": {"redis_round_trips": redis, "postgres_commits": commits},
        "floor": None
        if floor is None
        else {"redis_round_trip_us": floor.redis_us, "postgres_commit_us": floor.postgres_commit_us},
        "floor_per_second": ceiling(combo, floor, result.audit_sync) if floor is not None else None,
        "sequential": _run_json(combo, result.sequential),
        "concurrent": _run_json(combo, result.concurrent) if result.concurrent else None,
    }


def _http_json(run: HttpRun) -> dict[str, object]:
    r = run.result
    return {
        "workers": run.workers,
        "pinned": run.pinned,
        "requests": r.requests,
        "seconds": r.seconds,
        "requests_per_second": r.rate,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "non_2xx": r.non_2xx,
        "socket_errors": r.socket_errors,
        "server_cpu_us_per_request": run.cpu_us,
        "peak_rss_mb": run.peak_rss_mb,
        "audit": {
            "rows": run.audit_rows,
            "ok_responses": run.ok_responses,
            "in_flight_bound": run.in_flight_bound,
            "passed": run.audit_ok,
        },
    }


def render_json(shape: BackendsShape, figures: BackendsFigures) -> str:
    http_shape = figures.http_shape
    report = {
        "machine": machine_info() | {"load_average": shape.load_average},
        "n": shape.n,
        "concurrency": shape.concurrency,
        "in_process": {
            r.combo.name: _combo_json(r, figures.floors.get(r.combo.name)) for r in figures.inproc
        },
        "skipped": figures.skipped,
        "http": None
        if http_shape is None
        else {
            "loadgen": figures.loadgen,
            "connections": http_shape.connections,
            "warmup_seconds": http_shape.warmup,
            "duration_seconds": http_shape.duration,
            "rounds": http_shape.rounds,
            "servers": [_http_json(run) for run in figures.http],
        },
    }
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
