"""Stream benchmark: fan-out to 1,000 SSE subscribers at rising publish rates, and memory per stalled one.

``make bench`` runs it after dispatch.py; ``--help`` lists the options and bench/README.md says what each
figure means. Tidegate's ``GET /v1/stream`` (on its own ``SseResponse`` and on sse-starlette) is measured
beside a bare Starlette broadcaster on the same server, with the same clients, in the same run. Every
child process and temp file is gone when it returns, Ctrl-C included. Exit status: 0 when it ran (targets
met or not), 1 when it failed, 130 when interrupted."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _fanout import run_fanout
from _memory import run_memory
from _run import busy_load_average, cpus, handle_sigterm, progress, raise_open_files_limit
from _stream_report import StepResult, StreamFigures, StreamShape, render_json, render_table

STEPS = (10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 700.0, 1000.0)
QUICK_STEPS = (20.0, 200.0)


def _steps(text: str) -> tuple[float, ...]:
    try:
        steps = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not steps or min(steps) <= 0 or list(steps) != sorted(set(steps)):
        raise argparse.ArgumentTypeError("steps must be positive and rising, e.g. 10,20,50")
    return steps


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Tidegate stream benchmark (see bench/README.md).")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run, about 30 s: 200 subscribers, steps 20,200, 1 s measured, 50 stalled streams",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--subscribers", type=int, help="streams per step (default 1,000)")
    parser.add_argument(
        "--steps", type=_steps, help="events/s, rising (default 10,20,50,100,200,300,400,500,700,1000)"
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per step (default 4)")
    parser.add_argument("--warmup", type=float, help="seconds of publishing before measuring (default 1.5)")
    parser.add_argument(
        "--clients", type=int, default=1, help="client processes sharing the streams (default 1)"
    )
    parser.add_argument("--stalled", type=int, help="stalled streams in the memory measurement (default 200)")
    parser.add_argument(
        "--stall-events", type=int, help="events published to the stalled streams (default 12,000)"
    )
    parser.add_argument("--skip-fanout", action="store_true", help="only the memory measurement")
    parser.add_argument("--skip-memory", action="store_true", help="only the fan-out series")
    return parser


def _shape(argv: list[str] | None) -> tuple[argparse.Namespace, StreamShape]:
    parser = _parser()
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: float | None, normal: float, smoke: float) -> float:
        return value if value is not None else (smoke if quick else normal)

    subscribers = int(pick(args.subscribers, 1000, 200))
    seconds, warmup = pick(args.seconds, 4.0, 1.0), pick(args.warmup, 1.5, 0.5)
    stalled = int(pick(args.stalled, 200, 50))
    stall_events = args.stall_events if args.stall_events is not None else 12_000
    if min(subscribers, args.clients, stalled, stall_events) < 1 or seconds <= 0 or warmup < 0:
        parser.error(
            "--subscribers, --clients, --stalled, --stall-events must be >= 1, --seconds > 0, --warmup >= 0"
        )
    if args.skip_fanout and args.skip_memory:
        parser.error("--skip-fanout and --skip-memory leave nothing to run")
    server_cpu, load_cpu = cpus()
    shape = StreamShape(
        subscribers=subscribers,
        steps=args.steps or (QUICK_STEPS if quick else STEPS),
        warmup=warmup,
        seconds=seconds,
        clients=args.clients,
        stalled=stalled,
        stall_events=stall_events,
        server_cpu=server_cpu,
        load_cpu=load_cpu,
        load_average=busy_load_average(),
        quick=quick,
    )
    return args, shape


def _report_step(step: StepResult) -> None:
    progress(
        f"          {step.delivered_rate:,.0f} deliveries/s, p50 {step.latency_ms(50):.1f} ms, "
        f"p99 {step.latency_ms(99):.1f} ms: {step.verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    args, shape = _shape(argv)
    handle_sigterm()
    raise_open_files_limit()
    try:
        with tempfile.TemporaryDirectory(prefix="tidegate-bench-stream-") as tmp:
            root = Path(tmp)
            steps = [] if args.skip_fanout else run_fanout(shape, root, _report_step)
            memory = [] if args.skip_memory else run_memory(shape, root)
    except KeyboardInterrupt:
        progress("interrupted: servers and clients stopped, temp files removed")
        return 130
    except (RuntimeError, OSError, ValueError) as exc:
        progress(f"benchmark failed: {exc}")
        return 1
    figures = StreamFigures(steps, memory)
    print(render_json(shape, figures) if args.json else render_table(shape, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
