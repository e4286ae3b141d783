"""Startup with embeddings (features.md §18): disabled builds nothing, the local model loads at startup,
and a missing model package stops startup with a message naming it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import make_settings
from tidegate.embeddings.local import PACKAGE
from tidegate.errors import ConfigError
from tidegate.services import close_services, open_services

ROOT = Path(__file__).resolve().parents[2]


async def test_disabled_embeddings_build_no_embedder(tmp_path: Path) -> None:
    services = await open_services(make_settings(tmp_path), start_workers=False)
    try:
        assert services.embedder is None
    finally:
        await close_services(services)


async def test_the_local_model_is_ready_after_startup(tmp_path: Path) -> None:
    services = await open_services(make_settings(tmp_path, embedding={"enabled": True}), start_workers=False)
    try:
        assert services.embedder is not None
        assert services.embedder.provider.name == "local"
        assert await services.embedder.similarity("disk full", "disk full") == pytest.approx(1.0)
    finally:
        await close_services(services)


async def test_a_missing_model_package_stops_startup_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == PACKAGE else real(name))
    with pytest.raises(ConfigError, match="needs the Python package 'wordllama'"):
        await open_services(make_settings(tmp_path, embedding={"enabled": True}), start_workers=False)


def test_without_the_extra_the_server_starts_and_the_route_answers_404(tmp_path: Path) -> None:
    """A process where the extra's packages cannot be imported (as in a default install)."""
    script = f"""
import sys
for name in ("wordllama", "numpy", "safetensors", "tokenizers"):
    sys.modules[name] = None  # import fails, as when the extra is not installed
from starlette.testclient import TestClient
from tests.api.conftest import make_settings
from tidegate.api.app import create_app
from pathlib import Path
with TestClient(create_app(make_settings(Path({str(tmp_path)!r})))) as client:
    response = client.post("/v1/embeddings/similarity", json={{"text": "a", "topic": "b"}})
    print(response.status_code, response.json()["code"])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["404", "feature_disabled"]
