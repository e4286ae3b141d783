"""Run ``_serve.py`` as a child process on a free loopback port, and always stop it.

The child gets its own session, so a Ctrl-C in the terminal reaches only the benchmark, which then stops
the server with SIGTERM (a graceful shutdown that flushes the audit store) and SIGKILL after a grace
period. Its output goes to a log file under the run's temp dir and is shown if it fails to start."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from _proc import cpu_seconds, memory_kib
from _run import pinned

__all__ = ["Server", "ServerKind", "serve"]

ServerKind = Literal["tidegate", "echo", "fastapi", "stream"]

_SERVE_SCRIPT = Path(__file__).with_name("_serve.py")
_HOST = "127.0.0.1"
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0

#: Where each app takes the benchmarked POST, and the request that proves it is up.
PATHS: dict[ServerKind, str] = {"tidegate": "/v1/dispatch", "echo": "/", "fastapi": "/", "stream": "/"}
_PROBES: dict[ServerKind, tuple[str, str, bytes | None]] = {
    "tidegate": ("GET", "/health", None),
    "echo": ("POST", "/", b"{}"),
    "fastapi": ("POST", "/", b"{}"),
    "stream": ("GET", "/health", None),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    kind: ServerKind
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}{PATHS[self.kind]}"

    @property
    def host(self) -> str:
        return _HOST

    def request(
        self, method: str, path: str, body: bytes | None = None, *, timeout: float = 5.0
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(_HOST, self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def get_json(self, path: str) -> object:
        status, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        return orjson.loads(body)

    def peak_rss_mb(self) -> float | None:
        """The child's peak resident set (``VmHWM``), where /proc exists."""
        kib = memory_kib(self.process.pid, "VmHWM")
        return kib / 1024 if kib is not None else None

    def rss_kib(self) -> int | None:
        """The child's resident set now (``VmRSS``), where /proc exists."""
        return memory_kib(self.process.pid, "VmRSS")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the child, all its threads (SQLite's included), where /proc exists."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> int:
        """SIGTERM, wait for the graceful shutdown, SIGKILL if it hangs; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def wait_ready(self) -> None:
        method, path, body = _PROBES[self.kind]
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} server exited ({self.process.returncode}):\n{self._log_tail()}"
                )
            try:
                if self.request(method, path, body)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.kind} server did not answer within {_START_TIMEOUT:.0f} s:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no server output)"


@contextmanager
def serve(kind: ServerKind, directory: Path, *, cpu: int | None) -> Iterator[Server]:
    """A started, answering server; stopped on exit whatever happened."""
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = directory / "server.log"
    command = [sys.executable, str(_SERVE_SCRIPT), kind, str(port), str(directory)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pinned(cpu),
        )
    server = Server(kind, port, process, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
