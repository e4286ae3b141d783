"""SIGTERM on a real ``tidegate serve`` process ends open per-execution streams normally (stream.md §0.7):
the stream completes (terminating chunk, no ``done``) at once instead of being held to the drain timeout,
so its client reconnects elsewhere with ``Last-Event-ID``; the process then exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.execution_stream._harness import (
    CHAIN_RULES,
    StepTarget,
    chain_sections,
    pipeline_action,
    step_target,
)
from tests.test_serve_process import _free_port

_START_TIMEOUT = 30.0


@pytest.fixture
def target() -> Iterator[StepTarget]:
    with step_target() as running:
        yield running


def start(workdir: Path, target: StepTarget) -> tuple[str, subprocess.Popen[bytes]]:
    (workdir / "rules").mkdir()
    (workdir / "rules" / "10-chain.yaml").write_text(CHAIN_RULES)
    config = {"rules": {"directory": "./rules", "watch": False}, **chain_sections(target.url)}
    (workdir / "tidegate.yaml").write_bytes(orjson.dumps(config))  # JSON is valid YAML
    port = _free_port()
    command = [sys.executable, "-m", "tidegate", "serve", "--config", "tidegate.yaml", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    with (workdir / "serve.log").open("w") as log_file:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError((workdir / "serve.log").read_text())
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return url, process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("tidegate serve did not become healthy")
        time.sleep(0.05)


def test_sigterm_completes_an_open_execution_stream(tmp_path: Path, target: StepTarget) -> None:
    target.hold("b")
    url, process = start(tmp_path, target)
    try:
        started = httpx.post(f"{url}/v1/dispatch", json=pipeline_action(), timeout=10.0)
        chain_id = started.json()["chain_id"]
        with httpx.stream("GET", f"{url}/v1/executions/{chain_id}/events", timeout=30.0) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            events = []
            while len(events) < 5:  # up to step b's start; b is held, so the run is still going
                line = next(lines)
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = list(lines)  # ends without a protocol error: the terminating chunk arrived
            assert time.monotonic() - signalled < 10, "the stream was held until the drain timeout"
        assert events[-1] == "step_start"
        assert "event: done" not in rest
        target.release("b")  # let the in-flight step end, so the process can finish its drain
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), (tmp_path / "serve.log").read_text()
    finally:
        target.release_all()
        if process.poll() is None:
            process.kill()
            process.wait()
