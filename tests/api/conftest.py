"""Fixtures for the HTTP tests: the embedded default configuration under a temporary directory, served by
a real uvicorn on loopback (one server per test module, so each module starts from empty stores)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import serving
from tidegate.clock import ManualClock
from tidegate.config import Settings
from tidegate.config.loader import validate_data

RULES_YAML = """\
rules:
  - name: block-spam
    priority: 1
    description: Block spam actions
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
  - name: quiet-hours
    priority: 5
    enabled: false
    condition: {field: action.action_type, eq: quiet}
    action: {type: deny}
"""

ACTION = {
    "namespace": "notifications",
    "tenant": "tenant-1",
    "provider": "log",
    "action_type": "send_email",
    "payload": {"to": "user@example.com"},
}


def _merge(base: dict[str, object], extra: Mapping[str, object]) -> dict[str, object]:
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def make_settings(directory: Path, **sections: object) -> Settings:
    """The embedded default (config.md §3) with its relative paths under ``directory``, plus ``sections``."""
    rules = directory / "rules"
    if not rules.exists():
        rules.mkdir(parents=True)
        (rules / "10-basic.yaml").write_text(RULES_YAML)
    data = _merge({"rules": {"watch": False}}, sections)
    settings, problems = validate_data(data, directory)
    if settings is None:
        raise AssertionError(f"invalid test settings: {problems}")
    return settings


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def server(server_dir: Path, clock: ManualClock) -> Iterator[str]:
    """The base URL of a server running the embedded default (SQLite under a temporary directory)."""
    with serving(make_settings(server_dir), clock=clock) as url:
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=10.0) as http:
        yield http
