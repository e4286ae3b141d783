"""The real `tidegate serve` process, as a newcomer runs it: the embedded default under a working directory.

These are the guarantees only a whole process can show: concurrent duplicates over HTTP execute once, and
what a dispatch wrote (audit record, dedup claim) is still there after the process stops and starts again
on the same ./data."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

RULES = """\
rules:
  - name: dedup-welcome
    priority: 1
    condition: {field: action.action_type, eq: welcome}
    action: {type: deduplicate, ttl_seconds: 3600}
"""

_START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(workdir: Path) -> Iterator[str]:
    with serve_process(workdir) as (url, _):
        yield url


@contextmanager
def serve_process(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`tidegate serve` with ``workdir`` as its working directory (so ./data and ./rules live there)."""
    port = _free_port()
    command = [sys.executable, "-m", "tidegate", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if process.poll() is not None:
                output = log_path.read_text()
                raise AssertionError(f"tidegate serve exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("tidegate serve did not become healthy")
            time.sleep(0.05)
        yield url, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says how the process ended.
    assert process.returncode in (0, -signal.SIGTERM), log_path.read_text()


def _action(action_type: str, **extra: object) -> dict[str, object]:
    return {
        "namespace": "notifications",
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": action_type,
        "payload": {"to": "user@example.com"},
        **extra,
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "dedup.yaml").write_text(RULES)
    return tmp_path


async def _dispatch_concurrently(url: str, bodies: list[dict[str, object]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:
        return await asyncio.gather(*(client.post("/v1/dispatch", json=body) for body in bodies))


def test_fifty_concurrent_duplicates_execute_exactly_once(workdir: Path) -> None:
    with serve(workdir) as url:
        bodies = [_action("welcome", dedup_key="welcome-user@example.com") for _ in range(50)]
        responses = asyncio.run(_dispatch_concurrently(url, bodies))
        assert [r.status_code for r in responses] == [200] * 50
        outcomes = [r.json()["outcome"] for r in responses]
        assert outcomes.count("executed") == 1, outcomes
        assert outcomes.count("deduplicated") == 49, outcomes
        metrics = httpx.get(f"{url}/metrics").json()
        assert metrics["executed"] == 1
        assert metrics["deduplicated"] == 49
        audit = httpx.get(f"{url}/v1/audit", params={"action_type": "welcome", "limit": 100}).json()
        assert audit["total"] == 50


def test_audit_record_and_dedup_claim_survive_a_restart(workdir: Path) -> None:
    first = _action("welcome", dedup_key="restart-key")
    with serve(workdir) as url:
        response = httpx.post(f"{url}/v1/dispatch", json=first)
        assert response.status_code == 200
        assert response.json()["outcome"] == "executed"
        action_id = response.json()["action_id"]
    assert (workdir / "data").is_dir(), "the embedded default keeps its state under ./data"

    with serve(workdir) as url:
        record = httpx.get(f"{url}/v1/audit/{action_id}")
        assert record.status_code == 200, record.text
        assert record.json()["action_id"] == action_id
        assert record.json()["outcome"] == "executed"
        again = httpx.post(f"{url}/v1/dispatch", json=_action("welcome", dedup_key="restart-key"))
        assert again.status_code == 200
        assert again.json()["outcome"] == "deduplicated", again.json()


def test_sigterm_ends_open_streams_normally_and_the_process_exits(workdir: Path) -> None:
    """stream.md §0.7: a graceful shutdown completes open streams (no cut-off at the drain timeout)."""
    with serve_process(workdir) as (url, process):
        with httpx.stream("GET", f"{url}/v1/stream", timeout=30.0) as response:
            assert response.status_code == 200
            dispatched = httpx.post(f"{url}/v1/dispatch", json=_action("welcome", dedup_key="sigterm"))
            lines = response.iter_lines()
            assert next(lines) == "event: action_dispatched"
            assert next(lines) == f"id: {_event_id(dispatched)}"
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = list(lines)  # ends without a protocol error: the terminating chunk arrived
            assert time.monotonic() - started < 10, "the stream was held until the drain timeout"
        assert rest[0].startswith("data: ")
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)


def _event_id(response: httpx.Response) -> str:
    """The event id of a dispatch's ``action_dispatched``: the audit record id (stream.md §1.3)."""
    record = httpx.get(
        f"{response.url.scheme}://{response.url.netloc.decode()}/v1/audit/{response.json()['action_id']}"
    )
    event_id: str = record.json()["id"]
    return event_id
