"""open_state_store builds the configured backend (config.md §4.2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.store.store_backends import service_url
from tidegate.clock import ManualClock
from tidegate.errors import ConfigError
from tidegate.store.factory import open_state_store
from tidegate.store.memory import MemoryStateStore
from tidegate.store.sqlite import SqliteStateStore


@dataclass(frozen=True)
class _State:
    backend: str = "sqlite"
    path: Path | str = Path("./data/tidegate.db")
    operation_timeout_seconds: float = 2.0


async def test_memory_backend() -> None:
    store = await open_state_store(_State(backend="memory"), ManualClock())
    assert isinstance(store, MemoryStateStore)
    await store.put("k", b"v")
    await store.close()


async def test_sqlite_backend_is_opened_at_the_configured_path(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tidegate.db"
    store = await open_state_store(_State(path=str(path)), ManualClock())
    try:
        assert isinstance(store, SqliteStateStore)
        await store.put("k", b"v")
        assert path.is_file()
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_shared_backends_are_not_in_this_build(backend: str) -> None:
    with pytest.raises(ConfigError) as raised:
        await open_state_store(_State(backend=backend), ManualClock())
    assert raised.value.problems == [f"config: state.backend: {backend!r} is not available in this build"]


def test_service_url_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEGATE_TEST_REDIS_URL", "redis://localhost:6379/0")
    assert service_url("TIDEGATE_TEST_REDIS_URL", "redis") == "redis://localhost:6379/0"


def test_service_url_skips_without_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEGATE_TEST_REDIS_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="TIDEGATE_TEST_REDIS_URL"):
        service_url("TIDEGATE_TEST_REDIS_URL", "redis")


def test_service_url_fails_in_ci_without_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEGATE_TEST_REDIS_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="never skipped"):
        service_url("TIDEGATE_TEST_REDIS_URL", "redis")
