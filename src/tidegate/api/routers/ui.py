"""``GET /ui`` and ``GET /ui/assets/{file}`` (api.md §14): the live dashboard, served by the server itself.

The page, its stylesheet, script and icon are package data (``tidegate/api/ui_assets``), read once at
import: no build step, nothing from another host. Only a fixed list of files is served, so no path from
the client reaches the file system. The page references its assets with the package version in the
query, so the assets can be cached for a day and an upgrade is still picked up at once; the page itself
is never cached. Loading the page needs no credentials: the script asks for a key when the API does."""

from __future__ import annotations

from importlib.resources import files
from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import Response

from tidegate import __version__
from tidegate.api.html import UI_CSP, html_response
from tidegate.api.openapi import responses
from tidegate.errors import NotFound

__all__ = ["ASSETS", "router"]

router = APIRouter(tags=["ui"])

#: The files under ``/ui/assets/``, with their media types.
ASSETS: dict[str, str] = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

_PACKAGE = files("tidegate.api").joinpath("ui_assets")
_CONTENT: dict[str, bytes] = {name: _PACKAGE.joinpath(name).read_bytes() for name in ASSETS}
_PAGE = _PACKAGE.joinpath("index.html").read_text("utf-8").replace("__VERSION__", quote(__version__))
_ASSET_CACHE = "public, max-age=86400"


@router.get(
    "/ui",
    response_class=Response,
    summary="The live dashboard (asks for a key when authentication is on)",
    responses=responses({200: ("The dashboard page", {"type": "string"})}, media_type="text/html"),
)
async def dashboard_page() -> Response:
    return html_response(_PAGE, UI_CSP)


@router.get(
    "/ui/assets/{file}",
    response_class=Response,
    summary="A dashboard asset (stylesheet, script, icon)",
    responses=responses({200: ("The file", {"type": "string"})}, (404,), media_type="*/*"),
)
async def dashboard_asset(file: str) -> Response:
    media_type = ASSETS.get(file)
    if media_type is None:
        raise NotFound(f"asset not found: {file}")
    return Response(_CONTENT[file], media_type=media_type, headers={"Cache-Control": _ASSET_CACHE})
