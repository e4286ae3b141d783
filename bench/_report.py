"""The figures of one dispatch.py run, and their two renderings: the table and ``--json``."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from _config import Backend
from _inproc import InProcResult
from _loadgen import PYTHON, Loadgen, LoadResult
from _machine import busy_note, machine_info, machine_lines
from _server import ServerKind

__all__ = [
    "HTTP_TARGET",
    "MEMORY_TARGET",
    "SERVERS",
    "AuditCheck",
    "HttpFigures",
    "RunShape",
    "render_json",
    "render_table",
]

HTTP_TARGET = 0.50  # tidegate req/s as a share of the echo baseline's
MEMORY_TARGET = 25_000  # in-process actions/s on the memory backends

#: Measured in this order; the ratio is tidegate's rate over echo's.
SERVERS: tuple[ServerKind, ...] = ("echo", "fastapi", "tidegate")
_LABELS: dict[ServerKind, str] = {
    "echo": "echo: Starlette + orjson (baseline)",
    "fastapi": "echo as a FastAPI route (reference)",
    "tidegate": "tidegate /v1/dispatch (SQLite)",
}
_BACKEND_LABELS: dict[Backend, str] = {
    "memory": "memory state + memory audit",
    "sqlite": "SQLite state + audit (temp dir)",
}
_WIDTH = 48


@dataclass(frozen=True, slots=True)
class RunShape:
    """How the run was set up, as the report states it."""

    n: int
    connections: int
    warmup: float
    duration: float
    rounds: int
    server_cpu: int | None
    load_cpu: int | None
    load_average: float


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """Audit rows against the server's own count and the 2xx responses the load generator saw.

    A request still in flight when the load generator stops is executed and audited but never counted by
    it, so the rows may exceed the 2xx count by at most one request per connection per run (plus one per
    socket error: a request whose connection broke may have been executed too)."""

    rows: int
    dispatched: int
    ok_responses: int
    in_flight_bound: int

    @property
    def passed(self) -> bool:
        return self.rows == self.dispatched and 0 <= self.rows - self.ok_responses <= self.in_flight_bound


@dataclass(frozen=True, slots=True)
class HttpFigures:
    loadgen: Loadgen
    results: dict[ServerKind, LoadResult]
    peak_rss_mb: dict[ServerKind, float | None]
    cpu_us: dict[ServerKind, float]  # server CPU per request; empty without /proc
    audit: AuditCheck

    @property
    def ratio(self) -> float:
        """Tidegate's request rate as a share of the echo baseline's: the figure the target is about."""
        echo = self.results["echo"].rate
        return self.results["tidegate"].rate / echo if echo else 0.0

    @property
    def cpu_ratio(self) -> float | None:
        """The same share from server CPU per request: steadier when other processes share the core."""
        echo, tidegate = self.cpu_us.get("echo"), self.cpu_us.get("tidegate")
        return echo / tidegate if echo and tidegate else None


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _header(shape: RunShape, http: HttpFigures | None) -> list[str]:
    lines = machine_lines("Tidegate dispatch benchmark") + busy_note(shape.load_average)
    if http is not None:
        pinning = (
            f"server on CPU {shape.server_cpu}, load generator on CPU {shape.load_cpu}"
            if shape.server_cpu is not None
            else "no CPU pinning"
        )
        rounds = "1 round" if shape.rounds == 1 else f"{shape.rounds} interleaved rounds"
        per_round = shape.duration / shape.rounds
        lines += [
            f"  load      {http.loadgen}, 1 thread, {shape.connections} connections; {pinning}",
            f"            per server: {shape.warmup:g} s warm-up, then {rounds} of {per_round:g} s",
        ]
        if http.loadgen == PYTHON:
            lines.append(
                "  NOTE      wrk not found: the Python load generator was used; it may be the bottleneck"
            )
    return lines


def _optional(value: float | None, width: int) -> str:
    return f"{value:>{width}.0f}" if value is not None else f"{'-':>{width}}"


def _http_lines(http: HttpFigures) -> list[str]:
    title = "HTTP POST, 1 uvicorn worker (uvloop, httptools)"
    columns = f"{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}{'RSS MB':>8}"
    lines = ["", f"{title:<{_WIDTH + 2}}{columns}"]
    for kind in SERVERS:
        r, mb, cpu = http.results[kind], http.peak_rss_mb[kind], http.cpu_us.get(kind)
        figures = f"{r.rate:>10,.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{_optional(cpu, 12)}{_optional(mb, 8)}"
        errors = ""
        if r.non_2xx or r.socket_errors:
            errors = f"   ({r.non_2xx} non-2xx, {r.socket_errors} socket errors)"
        lines.append(f"  {_LABELS[kind]:<{_WIDTH}}{figures}{errors}")
    by_cpu = f" (by server CPU per request: {http.cpu_ratio:.1%})" if http.cpu_ratio is not None else ""
    lines.append(
        f"  {'tidegate / echo':<{_WIDTH}}{http.ratio:>10.1%}   target >= {HTTP_TARGET:.0%}: "
        f"{_verdict(http.ratio >= HTTP_TARGET)}{by_cpu}"
    )
    a = http.audit
    in_flight = a.rows - a.ok_responses
    lines.append(
        f"  audit check: {a.rows:,} rows, server counted {a.dispatched:,} dispatches, load generator saw "
        f"{a.ok_responses:,} 2xx + {in_flight} in flight at stop (<= {a.in_flight_bound}): "
        f"{'OK' if a.passed else 'MISMATCH'}"
    )
    return lines


def _inproc_lines(shape: RunShape, inproc: list[InProcResult]) -> list[str]:
    title = f"In-process gateway.dispatch, sequential, N={shape.n:,}"
    lines = ["", f"{title:<{_WIDTH + 2}}{'actions/s':>10}{'p50 µs':>9}{'p99 µs':>9}{'CPU µs':>12}"]
    for r in inproc:
        target = ""
        if r.backend == "memory":
            target = f"   target >= {MEMORY_TARGET:,}: {_verdict(r.rate >= MEMORY_TARGET)}"
        figures = f"{r.rate:>10,.0f}{r.p50_us:>9.1f}{r.p99_us:>9.1f}{r.cpu_us:>12.1f}"
        lines.append(f"  {_BACKEND_LABELS[r.backend]:<{_WIDTH}}{figures}{target}")
    return lines


def render_table(shape: RunShape, http: HttpFigures | None, inproc: list[InProcResult]) -> str:
    lines = _header(shape, http)
    if http is not None:
        lines += _http_lines(http)
    if inproc:
        lines += _inproc_lines(shape, inproc)
    return "\n".join(lines)


def _http_json(shape: RunShape, http: HttpFigures) -> dict[str, object]:
    return {
        "loadgen": http.loadgen,
        "connections": shape.connections,
        "warmup_seconds": shape.warmup,
        "duration_seconds": shape.duration,
        "rounds": shape.rounds,
        "server_cpu": shape.server_cpu,
        "load_cpu": shape.load_cpu,
        "servers": {
            kind: {
                "requests": r.requests,
                "seconds": r.seconds,
                "requests_per_second": r.rate,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "non_2xx": r.non_2xx,
                "socket_errors": r.socket_errors,
                "peak_rss_mb": http.peak_rss_mb[kind],
                "server_cpu_us_per_request": http.cpu_us.get(kind),
            }
            for kind, r in http.results.items()
        },
        "ratio": http.ratio,
        "ratio_target": HTTP_TARGET,
        "ratio_met": http.ratio >= HTTP_TARGET,
        "cpu_ratio": http.cpu_ratio,
        "audit": {
            "rows": http.audit.rows,
            "dispatched": http.audit.dispatched,
            "ok_responses": http.audit.ok_responses,
            "in_flight_bound": http.audit.in_flight_bound,
            "passed": http.audit.passed,
        },
    }


def _inproc_json(r: InProcResult) -> dict[str, object]:
    figures: dict[str, object] = {
        "actions": r.actions,
        "seconds": r.seconds,
        "actions_per_second": r.rate,
        "cpu_seconds": r.cpu_seconds,
        "cpu_us_per_action": r.cpu_us,
        "p50_us": r.p50_us,
        "p99_us": r.p99_us,
    }
    if r.backend == "memory":
        figures |= {"target": MEMORY_TARGET, "met": r.rate >= MEMORY_TARGET}
    return figures


def render_json(shape: RunShape, http: HttpFigures | None, inproc: list[InProcResult]) -> str:
    report = {
        "machine": machine_info() | {"load_average": shape.load_average},
        "http": _http_json(shape, http) if http is not None else None,
        "in_process": {r.backend: _inproc_json(r) for r in inproc} if inproc else None,
    }
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
