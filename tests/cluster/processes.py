"""Real ``tidegate serve`` processes on loopback ports, several at once, as separate hosts would run them.

Each instance has its own working directory (``tidegate.yaml``, ``rules/``, ``serve.log``) and gets its
config through ``--config``. The processes start in parallel and count as started once every ``/health``
answers 200. ``shared_backends`` gives the config sections that make them one cluster: state on Redis
(key prefix of its own) or PostgreSQL, and the audit trail always on PostgreSQL, in a schema of its own
that is dropped afterwards. The logs of a failed test are attached to its report by ``conftest.py``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.postgres.pg_support import connection, drop_schema, postgres_url, unique_schema
from tests.store.redis_support import delete_prefix, redis_url, unique_prefix

__all__ = ["Instance", "ProcessCluster", "free_ports", "serve_cluster", "shared_backends"]

START_TIMEOUT = 45.0
STOP_TIMEOUT = 20.0
_BIND_ATTEMPTS = 3
_LOG_TAIL_CHARS = 6000


@dataclass
class Instance:
    """One ``tidegate serve`` process and where its output goes."""

    name: str
    home: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "serve.log"

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-_LOG_TAIL_CHARS:]

    def kill(self) -> None:
        """SIGKILL: no shutdown, no drain, no flush (a crashed host)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM and wait; a process still running after ``STOP_TIMEOUT`` is killed. The exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@dataclass
class ProcessCluster:
    instances: list[Instance] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [instance.url for instance in self.instances]

    def logs(self) -> str:
        """The end of every instance's log, for a failure report."""
        parts = [
            f"--- {i.name} ({i.url}, exit {i.process.poll()}) ---\n{i.log_tail()}" for i in self.instances
        ]
        return "\n".join(parts)


@contextmanager
def serve_cluster(
    directory: Path, count: int, config: Mapping[str, object], rules: str
) -> Iterator[ProcessCluster]:
    """``count`` processes with one ``config`` (YAML sections) and one rule file, stopped by SIGTERM on exit.

    An instance that was killed is left as it is; one that survives must exit cleanly."""
    homes = [_prepare(directory / f"instance-{n}", config, rules) for n in range(count)]
    cluster = ProcessCluster()
    try:
        ports = free_ports(count)
        for n, (home, port) in enumerate(zip(homes, ports, strict=True)):
            cluster.instances.append(Instance(f"instance-{n}", home, port, _spawn(home, port)))
        _wait_healthy(cluster)
        yield cluster
    finally:
        statuses = {i.name: (i.process.poll(), i.stop()) for i in cluster.instances}
    unclean = {
        name: status
        for name, (before, status) in statuses.items()
        if before is None and status not in (0, -signal.SIGTERM)
    }
    assert not unclean, f"instances did not stop cleanly: {unclean}\n{cluster.logs()}"


def _prepare(home: Path, config: Mapping[str, object], rules: str) -> Path:
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "10-rules.yaml").write_text(rules)
    (home / "tidegate.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return home


def free_ports(count: int) -> list[int]:
    """Distinct free ports: every socket is held until all are chosen, so none is handed out twice."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _spawn(home: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tidegate", "serve", "--config", "tidegate.yaml", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    with (home / "serve.log").open("ab") as log_file:
        return subprocess.Popen(command, cwd=home, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def _wait_healthy(cluster: ProcessCluster) -> None:
    """Poll every ``/health`` until all answer 200. A port lost to another process between choosing
    and binding it is chosen again (a few times); any other early exit fails with the logs."""
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(cluster.instances)
    attempts = dict.fromkeys((i.name for i in waiting), 1)
    with httpx.Client(timeout=1.0) as client:
        while waiting:
            for instance in list(waiting):
                if instance.process.poll() is not None:
                    if "address already in use" in instance.log_tail().lower() and (
                        attempts[instance.name] < _BIND_ATTEMPTS
                    ):
                        attempts[instance.name] += 1
                        instance.port = free_ports(1)[0]
                        instance.process = _spawn(instance.home, instance.port)
                        continue
                    raise AssertionError(f"{instance.name} exited early:\n{cluster.logs()}")
                try:
                    if client.get(f"{instance.url}/health").status_code == 200:
                        waiting.remove(instance)
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy within {START_TIMEOUT} s: {waiting}\n{cluster.logs()}")
            time.sleep(0.05)


@contextmanager
def shared_backends(backend: str) -> Iterator[dict[str, object]]:
    """The ``state`` and ``audit`` sections of a cluster private to the caller, removed on exit.

    ``redis``: state (and, by ``stream.backend = auto``, the event log) under a fresh key prefix.
    ``postgres``: state and event log in a fresh schema (``search_path`` in the URL). Either way the
    audit trail lives in a fresh PostgreSQL schema, so all instances share one."""
    base, schema = postgres_url(), unique_schema()
    pg_url = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    asyncio.run(_create_schema(base, schema))
    try:
        if backend == "postgres":
            yield {
                "state": {"backend": "postgres", "url": pg_url, "key_prefix": f"tg{uuid.uuid4().hex[:8]}"},
                "audit": {"backend": "postgres"},
            }
            return
        if backend != "redis":
            raise ValueError(f"unknown shared backend {backend}")
        url, prefix = redis_url(), unique_prefix()
        try:
            yield {
                "state": {"backend": "redis", "url": url, "key_prefix": prefix},
                "audit": {"backend": "postgres", "url": pg_url},
            }
        finally:
            asyncio.run(delete_prefix(url, prefix))
    finally:
        asyncio.run(drop_schema(base, schema))


async def _create_schema(url: str, schema: str) -> None:
    async with connection(url) as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
