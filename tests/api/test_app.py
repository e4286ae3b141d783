"""``create_app``: the lifespan owns the services it opens; given services stay the caller's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.server import running_server
from tidegate.api import app as app_module
from tidegate.api.app import create_app
from tidegate.services import Services, close_services, open_services

from .conftest import make_settings


async def test_running_server_serves_the_embedded_default(tmp_path: Path) -> None:
    async with running_server(make_settings(tmp_path)) as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/health")).json()["status"] == "ok"
    async with httpx.AsyncClient(base_url=url) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/health")
    assert (tmp_path / "data").is_dir()


async def test_lifespan_opens_and_closes_its_own_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    async def opening(settings: object, clock: object = None) -> Services:
        events.append("open")
        return await open_services(make_settings(tmp_path), start_workers=False)

    async def closing(services: Services) -> None:
        events.append("close")
        await close_services(services)

    monkeypatch.setattr(app_module, "open_services", opening)
    monkeypatch.setattr(app_module, "close_services", closing)
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.services, Services)
        assert events == ["open"]
    assert events == ["open", "close"]


async def test_given_services_are_not_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[Services] = []

    async def closing(services: Services) -> None:
        closed.append(services)

    monkeypatch.setattr(app_module, "close_services", closing)
    services = await open_services(make_settings(tmp_path), start_workers=False)
    try:
        app = create_app(services.settings, services=services)
        assert app.state.services is services
        async with app.router.lifespan_context(app):
            assert app.state.services is services
        assert closed == []
    finally:
        await close_services(services)


def test_only_documented_routes_exist(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    assert app.docs_url is None
    assert app.redoc_url is None
    assert app.openapi_url == "/openapi.json"
