"""The state-store backends under contract test, and how to build each one.

Adding a backend is adding its name to ``BACKENDS`` and a branch to ``build_store``. Shared backends
need a real service: ``service_url`` skips with the reason when it is absent, except with ``CI=true``,
where a missing service fails the run instead (CI must never skip them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tidegate.clock import ManualClock
from tidegate.store.base import StateStore
from tidegate.store.memory import MemoryStateStore
from tidegate.store.sqlite import SqliteStateStore

BACKENDS = ["memory", "sqlite"]

#: Backends whose expiry is swept by Tidegate (shared backends expire natively and sweep nothing).
SWEPT_BACKENDS = frozenset({"memory", "sqlite"})


def service_url(env_var: str, backend: str) -> str:
    """The URL of the real service a shared backend's contract run needs."""
    url = os.environ.get(env_var)
    if url:
        return url
    reason = f"the {backend} contract tests need a running {backend}: set {env_var}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: shared backends are never skipped)")
    pytest.skip(reason)


async def build_store(backend: str, clock: ManualClock, tmp_path: Path) -> StateStore:
    if backend == "memory":
        memory = MemoryStateStore(clock)
        await memory.open()
        return memory
    if backend == "sqlite":
        sqlite = SqliteStateStore(tmp_path / "state" / "tidegate.db", clock, operation_timeout=5.0)
        await sqlite.open()
        return sqlite
    raise ValueError(f"unknown backend {backend}")
