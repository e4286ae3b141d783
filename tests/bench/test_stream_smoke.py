"""``bench/stream.py`` end to end with tiny numbers: real servers, real clients, the JSON report."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.bench.conftest import BENCH

TINY = ["--subscribers", "8", "--steps", "20,40", "--seconds", "0.3", "--warmup", "0.1", "--skip-memory"]


def test_every_implementation_gets_every_event_and_a_verdict() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "stream.py"), *TINY, "--json"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = orjson.loads(done.stdout)
    for name in ("bare", "tidegate", "sse-starlette"):
        series = [s for s in report["steps"] if s["implementation"] == name]
        rates = [s["events_per_second"] for s in series]
        assert rates == [20.0, 40.0] or (rates == [20.0] and not series[0]["passed"]), series
        for step in series:
            assert step["expected"] == step["published"] * 8 > 0
            assert step["delivered"] == step["expected"], step  # no queue is near its bound here
            assert step["p99_ms"] is not None and step["lost_connections"] == 0
            assert step["verdict"]
    assert set(report["summary"]) == {"bare", "tidegate", "sse-starlette"}
    assert report["memory"] == {}
