"""The figures of one stream.py run, the verdicts, and their two renderings: the table and ``--json``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import orjson

from _control import IMPLEMENTATIONS, Implementation
from _machine import busy_note, machine_info, machine_lines

__all__ = [
    "LATENCY_TARGET_MS",
    "MEMORY_TARGET_KIB",
    "RATIO_TARGET",
    "MemoryResult",
    "StepResult",
    "StreamFigures",
    "StreamShape",
    "render_json",
    "render_table",
]

LATENCY_TARGET_MS = 100.0  # p99 publish-to-receive latency a step must keep to pass
RATIO_TARGET = 0.80  # Tidegate's best passing deliveries/s as a share of the bare broadcaster's
MEMORY_TARGET_KIB = 1024.0  # server memory per stalled subscriber
COMPLETE_SHARE = 0.99  # a step whose clients got fewer of the expected deliveries fell behind

LABELS: dict[Implementation, str] = {
    "bare": "bare StreamingResponse + Queue (baseline)",
    "tidegate": "tidegate /v1/stream, own SseResponse",
    "sse-starlette": "tidegate /v1/stream on sse-starlette",
}
_SHORT: dict[Implementation, str] = {"bare": "bare", "tidegate": "tidegate", "sse-starlette": "sse-starlette"}


@dataclass(frozen=True, slots=True)
class StreamShape:
    """How the run was set up, as the report states it."""

    subscribers: int
    steps: tuple[float, ...]
    warmup: float
    seconds: float
    clients: int
    stalled: int
    stall_events: int
    server_cpu: int | None
    load_cpu: int | None
    load_average: float
    quick: bool


@dataclass(frozen=True, slots=True)
class StepResult:
    """One implementation at one publish rate."""

    implementation: Implementation
    rate: float  # events published per second
    subscribers: int
    published: int  # measured events
    seconds: float  # the measured events' publishing time
    delivered: int
    latencies_ns: list[int] = field(repr=False)  # sorted, one per measured delivery
    lagged: int
    lost: int
    publisher_late_p99_ms: float
    server_cpu_share: float | None  # server CPU time / wall time while publishing
    client_cpu_share: float | None  # all client processes, same window
    server_cpu_us: float | None  # server CPU per delivery (warm-up included), publishing and draining
    attempts: int = 1  # 2 when the first run of the step failed

    @property
    def expected(self) -> int:
        return self.published * self.subscribers

    @property
    def missing(self) -> int:
        return max(self.expected - self.delivered, 0)

    @property
    def offered_rate(self) -> float:
        return self.rate * self.subscribers

    @property
    def delivered_rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def latency_ms(self, p: float) -> float:
        """Percentile over every expected delivery; one never received counts as infinitely late."""
        if not self.expected:
            return math.nan
        rank = max(math.ceil(p / 100 * self.expected), 1)  # nearest rank, as _stats.percentile
        if rank > len(self.latencies_ns):
            return math.inf
        return self.latencies_ns[rank - 1] / 1e6

    @property
    def behind(self) -> bool:
        """The server did not keep the rate: its publisher ran late, or deliveries went missing."""
        return (
            self.publisher_late_p99_ms > LATENCY_TARGET_MS or self.delivered < COMPLETE_SHARE * self.expected
        )

    @property
    def passed(self) -> bool:
        return not self.behind and self.latency_ms(99) <= LATENCY_TARGET_MS

    @property
    def verdict(self) -> str:
        verdict = "ok" if self.passed else f"p99 > {LATENCY_TARGET_MS:.0f} ms"
        if self.behind:
            verdict = "behind"
        if self.attempts > 1:
            verdict += " (2nd run)" if self.passed else " (twice)"
        return verdict


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """Server memory with ``subscribers`` stalled streams of one implementation, in a fresh server."""

    implementation: Implementation
    subscribers: int
    events: int
    base_kib: int
    idle_kib: int  # streams open, nothing published yet
    stalled_kib: int  # after ``events`` events
    queued_min: int
    queued_max: int
    capacity: int | None
    dropped: int | None

    @property
    def idle_per_subscriber(self) -> float:
        return (self.idle_kib - self.base_kib) / self.subscribers

    @property
    def per_subscriber(self) -> float:
        return (self.stalled_kib - self.base_kib) / self.subscribers

    @property
    def met(self) -> bool:
        return self.per_subscriber <= MEMORY_TARGET_KIB


@dataclass(frozen=True, slots=True)
class StreamFigures:
    steps: list[StepResult]
    memory: list[MemoryResult]

    def series(self, implementation: Implementation) -> list[StepResult]:
        return [step for step in self.steps if step.implementation == implementation]

    def best(self, implementation: Implementation) -> StepResult | None:
        """The passing step with the most deliveries/s (steps run in rising order until one fails)."""
        passed = [step for step in self.series(implementation) if step.passed]
        return max(passed, key=lambda step: step.delivered_rate) if passed else None

    def ratio(self, implementation: Implementation) -> float | None:
        best, bare = self.best(implementation), self.best("bare")
        if best is None or bare is None:
            return None
        return best.delivered_rate / bare.delivered_rate

    def topped_out(self, implementation: Implementation, steps: tuple[float, ...]) -> bool:
        """Passed the highest step: its real limit is above what was measured."""
        best = self.best(implementation)
        return best is not None and best.rate == max(steps)


def _ms(value: float) -> str:
    if math.isinf(value):
        return "lost"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _share(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _header(shape: StreamShape) -> list[str]:
    pinning = (
        f"server on CPU {shape.server_cpu}, clients on CPU {shape.load_cpu}"
        if shape.server_cpu is not None
        else "no CPU pinning"
    )
    processes = "1 client process" if shape.clients == 1 else f"{shape.clients} client processes"
    return [
        *machine_lines("Tidegate stream benchmark"),
        *busy_note(shape.load_average),
        f"  setup     1 uvicorn worker (uvloop, httptools) serving all three; {pinning}",
        f"            {shape.subscribers:,} subscribers per step over raw HTTP/1.1 from {processes} (uvloop)",
        f"            per step and implementation: connect, {shape.warmup:g} s warm-up, {shape.seconds:g} s "
        "measured; implementations take turns",
    ]


def _step_lines(figures: StreamFigures) -> list[str]:
    columns = (
        f"{'events/s':>9}{'offered/s':>11}{'delivered/s':>13}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'lagged':>8}{'srv CPU':>9}{'µs/dlv':>8}{'cli CPU':>9}  verdict"
    )
    lines = ["", f"Fan-out to subscribers (p99 target <= {LATENCY_TARGET_MS:.0f} ms)", columns]
    for implementation in IMPLEMENTATIONS:
        lines.append(f"  {LABELS[implementation]}")
        for s in figures.series(implementation):
            cpu_us = f"{s.server_cpu_us:>8.2f}" if s.server_cpu_us is not None else f"{'-':>8}"
            lines.append(
                f"{s.rate:>9,.0f}{s.offered_rate:>11,.0f}{s.delivered_rate:>13,.0f}"
                f"{_ms(s.latency_ms(50)):>9}{_ms(s.latency_ms(99)):>9}{s.lagged:>8,}"
                f"{_share(s.server_cpu_share):>9}{cpu_us}{_share(s.client_cpu_share):>9}  {s.verdict}"
            )
    return lines


def _summary_lines(figures: StreamFigures, shape: StreamShape) -> list[str]:
    lines = ["", f"Highest step with p99 <= {LATENCY_TARGET_MS:.0f} ms"]
    for implementation in IMPLEMENTATIONS:
        best = figures.best(implementation)
        if best is None:
            lines.append(f"  {_SHORT[implementation]:<15}none passed")
            continue
        text = (
            f"  {_SHORT[implementation]:<15}{best.rate:>7,.0f} events/s = {best.delivered_rate:>11,.0f} "
            f"deliveries/s (p99 {_ms(best.latency_ms(99))} ms)"
        )
        ratio = figures.ratio(implementation)
        if implementation != "bare" and ratio is not None:
            text += f"   {ratio:.0%} of bare"
            if implementation == "tidegate":
                verdict = "met" if ratio >= RATIO_TARGET else "MISSED"
                text += f", target >= {RATIO_TARGET:.0%}: {verdict}"
        if figures.topped_out(implementation, shape.steps):
            text += "   (passed the top step: the limit is higher)"
        lines.append(text)
    return lines


def _memory_lines(figures: StreamFigures, shape: StreamShape) -> list[str]:
    lines = [
        "",
        f"Memory per stalled subscriber: {shape.stalled:,} streams never read, {shape.stall_events:,} events "
        "published, a fresh server each",
        f"{'':<45}{'idle KiB':>10}{'stalled KiB':>13}  queued frames per subscriber",
    ]
    for m in figures.memory:
        queue = f"{m.queued_min:,}" if m.queued_min == m.queued_max else f"{m.queued_min:,}-{m.queued_max:,}"
        if m.capacity is not None:
            queue += f" (bound {m.capacity:,}; {(m.dropped or 0) / m.subscribers:,.0f} dropped each)"
            if m.queued_min < m.capacity:
                queue += " NOT FULL: the kernel took the rest, raise --stall-events"
        else:
            queue += " (unbounded)"
        target = ""
        if m.implementation == "tidegate":
            target = f"   target <= {MEMORY_TARGET_KIB:,.0f} KiB: {'met' if m.met else 'MISSED'}"
        lines.append(
            f"  {LABELS[m.implementation]:<43}{m.idle_per_subscriber:>10,.1f}{m.per_subscriber:>13,.1f}  "
            f"{queue}{target}"
        )
    return lines


def render_table(shape: StreamShape, figures: StreamFigures) -> str:
    lines = _header(shape)
    if figures.steps:
        lines += _step_lines(figures) + _summary_lines(figures, shape)
    if figures.memory:
        lines += _memory_lines(figures, shape)
    return "\n".join(lines)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _step_json(s: StepResult) -> dict[str, object]:
    return {
        "implementation": s.implementation,
        "events_per_second": s.rate,
        "subscribers": s.subscribers,
        "offered_per_second": s.offered_rate,
        "published": s.published,
        "seconds": s.seconds,
        "expected": s.expected,
        "delivered": s.delivered,
        "deliveries_per_second": s.delivered_rate,
        "p50_ms": _finite(s.latency_ms(50)),
        "p99_ms": _finite(s.latency_ms(99)),
        "max_ms": s.latencies_ns[-1] / 1e6 if s.latencies_ns else None,
        "lagged_frames": s.lagged,
        "lost_connections": s.lost,
        "publisher_late_p99_ms": s.publisher_late_p99_ms,
        "server_cpu_share": s.server_cpu_share,
        "client_cpu_share": s.client_cpu_share,
        "server_cpu_us_per_delivery": s.server_cpu_us,
        "passed": s.passed,
        "attempts": s.attempts,
        "verdict": s.verdict,
    }


def _memory_json(m: MemoryResult) -> dict[str, object]:
    return {
        "subscribers": m.subscribers,
        "events": m.events,
        "rss_base_kib": m.base_kib,
        "rss_idle_kib": m.idle_kib,
        "rss_stalled_kib": m.stalled_kib,
        "idle_kib_per_subscriber": m.idle_per_subscriber,
        "stalled_kib_per_subscriber": m.per_subscriber,
        "queued_min": m.queued_min,
        "queued_max": m.queued_max,
        "queue_bound": m.capacity,
        "dropped_total": m.dropped,
    }


def render_json(shape: StreamShape, figures: StreamFigures) -> str:
    summary: dict[str, object] = {}
    for implementation in IMPLEMENTATIONS:
        best = figures.best(implementation)
        summary[implementation] = {
            "best_events_per_second": best.rate if best else None,
            "best_deliveries_per_second": best.delivered_rate if best else None,
            "ratio_to_bare": figures.ratio(implementation),
            "passed_top_step": figures.topped_out(implementation, shape.steps),
        }
    ratio = figures.ratio("tidegate")
    ours = next((m for m in figures.memory if m.implementation == "tidegate"), None)
    report = {
        "machine": machine_info() | {"load_average": shape.load_average},
        "setup": {
            "subscribers": shape.subscribers,
            "steps": list(shape.steps),
            "warmup_seconds": shape.warmup,
            "measured_seconds": shape.seconds,
            "client_processes": shape.clients,
            "server_cpu": shape.server_cpu,
            "load_cpu": shape.load_cpu,
            "quick": shape.quick,
        },
        "steps": [_step_json(s) for s in figures.steps],
        "summary": summary,
        "memory": {m.implementation: _memory_json(m) for m in figures.memory},
        "targets": {
            "latency_p99_ms": LATENCY_TARGET_MS,
            "ratio": RATIO_TARGET,
            "ratio_met": ratio >= RATIO_TARGET if ratio is not None else None,
            "memory_kib_per_stalled_subscriber": MEMORY_TARGET_KIB,
            "memory_met": ours.met if ours is not None else None,
        },
    }
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
