"""Drive ``_sse_load.py`` client processes from the benchmark: open streams, collect latencies, close.

Each process runs on the load generator's CPU and takes an equal share of the streams. Commands go to
every process at once and their answers are merged: counts add up, latencies are read from the files the
processes write (so exact percentiles come from every delivery, not from merged summaries). A process
that does not answer in time is an error; every process is gone when the ``with`` block ends."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from _proc import cpu_seconds
from _run import pinned

__all__ = ["Collected", "SseClients", "sse_clients"]

_SCRIPT = Path(__file__).with_name("_sse_load.py")
_ANSWER_SLACK = 30.0  # seconds a process may take beyond the command's own timeout


@dataclass(frozen=True, slots=True)
class Collected:
    """One step's deliveries as the clients saw them; ``latencies_ns`` is sorted."""

    latencies_ns: list[int]
    other: int
    lagged: int
    lost: int
    complete: bool

    @property
    def delivered(self) -> int:
        return len(self.latencies_ns)


class SseClients:
    def __init__(self, processes: list[subprocess.Popen[bytes]], workdir: Path) -> None:
        self._processes = processes
        self._workdir = workdir
        self.streams = 0

    @property
    def count(self) -> int:
        return len(self._processes)

    def cpu_seconds(self) -> float | None:
        """CPU time of every client process so far (None without /proc)."""
        total = 0.0
        for process in self._processes:
            seconds = cpu_seconds(process.pid)
            if seconds is None:
                return None
            total += seconds
        return total

    def _ask(self, commands: list[dict[str, object]], timeout: float) -> list[dict[str, object]]:
        for process, command in zip(self._processes, commands, strict=True):
            stdin = process.stdin
            assert stdin is not None
            stdin.write(orjson.dumps(command) + b"\n")
            stdin.flush()
        deadline = time.monotonic() + timeout + _ANSWER_SLACK
        return [_answer(process, deadline) for process in self._processes]

    def open(self, path: str, count: int) -> float:
        """Open ``count`` streams, shared out between the processes; returns the seconds it took."""
        share, extra = divmod(count, self.count)
        commands: list[dict[str, object]] = [
            {"op": "open", "path": path, "count": share + (1 if i < extra else 0)} for i in range(self.count)
        ]
        answers = self._ask(commands, 60.0)
        failed = sum(int(str(a["failed"])) for a in answers)
        self.streams += sum(int(str(a["opened"])) for a in answers)
        if failed:
            raise RuntimeError(f"{failed} of {count} streams of {path} did not open with 200")
        return max(float(str(a["seconds"])) for a in answers)

    def collect(self, tag: int, expected: int, *, quiet: float, timeout: float) -> Collected:
        """Every stream's deliveries of the ``expected`` events tagged ``tag`` (``timeout``: how long)."""
        files = [self._workdir / f"latencies-{i}.bin" for i in range(self.count)]
        commands: list[dict[str, object]] = [
            {
                "op": "collect",
                "tag": tag,
                "expected": expected,
                "file": str(f),
                "quiet": quiet,
                "timeout": timeout,
            }
            for f in files
        ]
        answers = self._ask(commands, timeout)
        latencies = array("q")
        for file in files:
            latencies.frombytes(file.read_bytes())
            file.unlink()
        return Collected(
            latencies_ns=sorted(latencies),
            other=sum(int(str(a["other"])) for a in answers),
            lagged=sum(int(str(a["lagged"])) for a in answers),
            lost=sum(int(str(a["lost"])) for a in answers),
            complete=all(a["complete"] is True for a in answers),
        )

    def close(self) -> None:
        """Reset every open stream."""
        self._ask([{"op": "close"}] * self.count, 10.0)
        self.streams = 0


def _answer(process: subprocess.Popen[bytes], deadline: float) -> dict[str, object]:
    stdout = process.stdout
    assert stdout is not None
    ready, _, _ = select.select([stdout], [], [], max(deadline - time.monotonic(), 0))
    line = stdout.readline() if ready else b""
    if not line:
        raise RuntimeError(f"SSE client process {process.pid} did not answer (exit code {process.poll()})")
    answer = orjson.loads(line)
    if not isinstance(answer, dict) or "error" in answer:
        raise RuntimeError(f"SSE client process {process.pid} answered {answer!r}")
    return answer


def _stop(process: subprocess.Popen[bytes], stdin: IO[bytes] | None) -> None:
    try:
        if stdin is not None and process.poll() is None:
            stdin.write(b'{"op":"exit"}\n')
            stdin.close()
        process.wait(5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


@contextmanager
def sse_clients(
    host: str, port: int, *, processes: int, cpu: int | None, workdir: Path
) -> Iterator[SseClients]:
    """``processes`` started client processes (pinned to ``cpu``); all stopped on exit, whatever happened."""
    workdir.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    try:
        with (workdir / "clients.log").open("ab") as log:
            for _ in range(processes):
                started.append(
                    subprocess.Popen(
                        [sys.executable, str(_SCRIPT), host, str(port)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=log,
                        start_new_session=True,
                        preexec_fn=pinned(cpu),
                    )
                )
        yield SseClients(started, workdir)
    finally:
        for process in started:
            _stop(process, process.stdin)
