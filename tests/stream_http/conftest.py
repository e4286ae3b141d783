"""Fixtures for ``GET /v1/stream`` over a real uvicorn on loopback (one server per module)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_settings
from tests.stream_http._server import StreamServer


@contextmanager
def stream_server(directory: Path, **sections: object) -> Iterator[StreamServer]:
    """A server for the embedded default plus ``sections``; 1 s keep-alive unless ``stream`` says else."""
    stream = {"keep_alive_seconds": 1, **dict(sections.pop("stream", {}))}  # type: ignore[call-overload]
    server = StreamServer(make_settings(directory, stream=stream, **sections)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamServer]:
    """A small replay window (50 events), so a test can push an id out of it quickly."""
    with stream_server(tmp_path_factory.mktemp("stream"), stream={"replay_max_events": 50}) as running:
        yield running


@pytest.fixture
async def client(server: StreamServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
        await server.wait_for(server.idle)  # the previous test's streams are gone
        yield http
