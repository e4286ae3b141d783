"""Drive a server with POSTs for a fixed time: ``wrk`` when installed, else ``_load.py``.

Either runs as its own process (pinned to a CPU of its own when asked), so the load generator never
shares an interpreter with the server. wrk's text output is parsed: ``--latency`` adds the percentile
table that holds p99."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from _run import pinned

__all__ = ["LoadResult", "Loadgen", "combine", "parse_wrk", "pick_loadgen", "run_load"]

Loadgen = Literal["wrk", "python"]

WRK: Loadgen = "wrk"
PYTHON: Loadgen = "python"

_LOAD_SCRIPT = Path(__file__).with_name("_load.py")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One timed run: ``requests`` counts every completed response (``non_2xx`` included)."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def combine(results: list[LoadResult]) -> LoadResult:
    """Several runs against one server as one: counts and times add up.

    Percentiles cannot be merged exactly from summaries; each is the request-weighted mean of the runs'
    own, which is close when the runs are alike (they are: same server, same load, a few seconds apart)."""
    requests = sum(r.requests for r in results)

    def weighted(value: Callable[[LoadResult], float]) -> float:
        return sum(value(r) * r.requests for r in results) / requests if requests else 0.0

    return LoadResult(
        requests=requests,
        seconds=sum(r.seconds for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        p50_ms=weighted(lambda r: r.p50_ms),
        p99_ms=weighted(lambda r: r.p99_ms),
    )


def pick_loadgen(wanted: str) -> Loadgen:
    """``auto`` means wrk when it is on PATH; asking for wrk without it is an error, never an install."""
    if wanted == PYTHON:
        return PYTHON
    if shutil.which(WRK):
        return WRK
    if wanted == WRK:
        raise SystemExit("wrk was requested but is not installed (nothing is installed by this script)")
    return PYTHON


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_wrk(text: str) -> LoadResult:
    """Counts, duration and the 50 %/99 % rows of the ``--latency`` distribution from wrk's report."""
    total = re.search(r"(\d+) requests in " + _DURATION, text)
    p50 = re.search(r"^\s*50(?:\.0+)?%\s+" + _DURATION, text, re.MULTILINE)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+" + _DURATION, text, re.MULTILINE)
    if total is None or p50 is None or p99 is None:
        raise ValueError(f"unexpected wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return LoadResult(
        requests=int(total.group(1)),
        seconds=_ms(total.group(2), total.group(3)) / 1000,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        p50_ms=_ms(p50.group(1), p50.group(2)),
        p99_ms=_ms(p99.group(1), p99.group(2)),
    )


def _lua(body: bytes) -> str:
    """A wrk script sending ``body`` as a JSON POST (Lua long brackets: no escaping needed)."""
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{body.decode()}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


def run_load(
    loadgen: Loadgen,
    url: str,
    body: bytes,
    *,
    connections: int,
    seconds: float,
    workdir: Path,
    cpu: int | None,
) -> LoadResult:
    """Run the load generator to completion; a crash or a timeout raises (and kills the child)."""
    if loadgen == WRK:
        script = workdir / "post.lua"
        script.write_text(_lua(body))
        command = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s"]
        command += [str(script), url]
    else:
        command = [sys.executable, str(_LOAD_SCRIPT), url, str(connections), str(seconds), body.decode()]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False, preexec_fn=pinned(cpu)
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}")
    if loadgen == WRK:
        return parse_wrk(done.stdout)
    raw = orjson.loads(done.stdout)
    return LoadResult(
        requests=int(raw["requests"]),
        seconds=float(raw["seconds"]),
        non_2xx=int(raw["non_2xx"]),
        socket_errors=int(raw["errors"]),
        p50_ms=float(raw["p50_ms"]),
        p99_ms=float(raw["p99_ms"]),
    )
