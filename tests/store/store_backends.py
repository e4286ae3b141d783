"""The state-store backends under contract test, and how to build each one.

Adding a backend is adding its name to ``BACKENDS`` and a branch to ``build_store``. Shared backends
need a real service: ``service_url`` skips with the reason when it is absent, except with ``CI=true``,
where a missing service fails the run instead (CI must never skip them). Given a ``default`` URL, the
service counts as absent only when nothing answers there."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.postgres.pg_support import open_postgres_store
from tests.store.redis_support import open_redis_store
from tidegate.clock import ManualClock
from tidegate.store.base import StateStore
from tidegate.store.memory import MemoryStateStore
from tidegate.store.sqlite import SqliteStateStore

BACKENDS = ["memory", "sqlite", "redis", "postgres"]

#: Backends whose expiry is swept by Tidegate (Redis expires natively and sweeps nothing).
SWEPT_BACKENDS = frozenset({"memory", "sqlite", "postgres"})


def service_url(env_var: str, backend: str, default: str | None = None) -> str:
    """The URL of the real service a shared backend's contract run needs: ``env_var`` when set, else
    ``default`` when something answers there."""
    url = os.environ.get(env_var)
    if url:
        return url
    if default is not None and _answers(default):
        return default
    reason = f"the {backend} contract tests need a running {backend}: set {env_var}"
    if default is not None:
        reason += f" or start one at {default}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: shared backends are never skipped)")
    pytest.skip(reason)


@functools.cache
def _answers(url: str) -> bool:
    """Whether a TCP connection to the URL's host and port opens (once per URL and test run)."""
    parts = urlsplit(url)
    ports = {"redis": 6379, "rediss": 6379, "postgresql": 5432, "postgres": 5432}
    address = (parts.hostname or "127.0.0.1", parts.port or ports[parts.scheme])
    try:
        with socket.create_connection(address, timeout=1.0):
            return True
    except OSError:
        return False


async def build_store(backend: str, clock: ManualClock, tmp_path: Path) -> StateStore:
    if backend == "memory":
        memory = MemoryStateStore(clock)
        await memory.open()
        return memory
    if backend == "sqlite":
        sqlite = SqliteStateStore(tmp_path / "state" / "tidegate.db", clock, operation_timeout=5.0)
        await sqlite.open()
        return sqlite
    if backend == "redis":
        return await open_redis_store(clock)
    if backend == "postgres":
        return await open_postgres_store(clock)
    raise ValueError(f"unknown backend {backend}")
