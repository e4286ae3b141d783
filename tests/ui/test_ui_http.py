"""``GET /ui`` and ``/ui/assets/{file}`` over plain HTTP (api.md §14, security.md §10): statuses, media
types, security headers, only local references, and the assets shipped as package data."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path

import httpx
import pytest

from tests.helpers.errors import assert_error
from tidegate import __version__
from tidegate.api.routers.ui import ASSETS

UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture
def page(open_server: str) -> httpx.Response:
    return httpx.get(f"{open_server}/ui", timeout=10)


def test_the_page_is_html_with_strict_headers(page: httpx.Response) -> None:
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == UI_CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "x-request-id" in page.headers


def test_the_page_references_only_its_own_assets(page: httpx.Response, open_server: str) -> None:
    html = page.text
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(references) == sorted(
        [
            f"ui/assets/favicon.svg?v={__version__}",
            f"ui/assets/dashboard.css?v={__version__}",
            f"ui/assets/dashboard.js?v={__version__}",
            "docs",  # the <noscript> hint
        ]
    )
    assert "//" not in html.replace("<!DOCTYPE html>", "")  # no absolute or scheme-relative URL
    assert "__VERSION__" not in html
    # Nothing inline for the CSP to refuse: no inline script or style, no style or on* attributes.
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    for reference in references:
        assert httpx.get(f"{open_server}/{reference}", timeout=10).status_code == 200, reference


def test_the_page_needs_no_credentials_with_auth_on(auth_server: str) -> None:
    response = httpx.get(f"{auth_server}/ui", timeout=10)
    assert response.status_code == 200
    assert 'id="auth-form"' in response.text
    assert httpx.get(f"{auth_server}/ui/assets/dashboard.js", timeout=10).status_code == 200
    assert httpx.get(f"{auth_server}/v1/rules", timeout=10).status_code == 401  # what the script probes


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("dashboard.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_from_the_package(open_server: str, name: str, media_type: str) -> None:
    response = httpx.get(f"{open_server}/ui/assets/{name}", params={"v": __version__}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == files("tidegate.api").joinpath("ui_assets", name).read_bytes()


def test_the_script_keeps_the_key_in_session_storage_only(open_server: str) -> None:
    text = httpx.get(f"{open_server}/ui/assets/dashboard.js", timeout=10).text
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)  # the code, without its block comments
    assert "sessionStorage.setItem" in code
    assert "localStorage" not in code
    assert "document.cookie" not in code
    assert "innerHTML" not in code  # server text goes in with textContent only
    assert "new EventSource" not in code  # fetch, which can send Authorization


@pytest.mark.parametrize(
    "name", ["index.html", "..%2F..%2Fpyproject.toml", "dashboard.js.map", "nope.css", "%2E%2E"]
)
def test_other_asset_names_are_404(open_server: str, name: str) -> None:
    assert_error(httpx.get(f"{open_server}/ui/assets/{name}", timeout=10), 404, "not_found")


def test_the_trailing_slash_and_other_methods(open_server: str) -> None:
    assert_error(httpx.get(f"{open_server}/ui/", timeout=10), 404, "not_found")
    assert httpx.post(f"{open_server}/ui", timeout=10).status_code == 405
    assert httpx.head(f"{open_server}/ui", timeout=10).status_code == 405  # as for /docs: GET only


def test_the_page_is_in_the_openapi_document(open_server: str) -> None:
    paths = httpx.get(f"{open_server}/openapi.json", timeout=10).json()["paths"]
    assert "text/html" in paths["/ui"]["get"]["responses"]["200"]["content"]
    assert "404" in paths["/ui/assets/{file}"]["get"]["responses"]


def test_the_assets_are_package_data_in_the_wheel() -> None:
    """pyproject's package-data globs cover every file the router reads, so a wheel carries them."""
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    globs = config["tidegate.api"]
    for name in ["index.html", *ASSETS]:
        assert any(fnmatch(f"ui_assets/{name}", pattern) for pattern in globs), name
        assert files("tidegate.api").joinpath("ui_assets", name).is_file()
