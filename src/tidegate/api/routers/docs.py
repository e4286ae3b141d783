"""``GET /docs`` and ``GET /docs/assets/{file}`` (api.md §14): Swagger UI, served offline.

The assets come from the installed ``swagger_ui_bundle`` package; only a fixed list of its files is
served (no path from the client reaches the file system). Swagger UI's start-up code, inline in its own
``index.html``, is served as ``swagger-initializer.js`` so the page's CSP can forbid inline scripts."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from tidegate.api.html import DOCS_CSP, html_response
from tidegate.api.openapi import responses
from tidegate.errors import NotFound

__all__ = ["ASSETS", "router"]

router = APIRouter(tags=["docs"])

_BUNDLE = Path(swagger_ui_bundle.swagger_ui_path)

#: The bundle files the page uses, with their media types.
ASSETS: dict[str, str] = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

_INITIALIZER = "swagger-initializer.js"

# The bundled Swagger UI (4.15) refuses to render any document whose version is not "3.0.n", and ours is
# 3.1 (api.md §14). The page fetches the document itself and shows it under a 3.0 label; the 3.1 schema
# features it uses (``type: null`` in ``anyOf``) still display. A Swagger UI 5 bundle would make this moot.
# Relative URLs keep the page working under a proxy prefix; ``validatorUrl: null`` loads no badge from
# another host.
_INITIALIZER_JS = """window.addEventListener("load", function () {
  fetch("openapi.json", {headers: {"Accept": "application/json"}})
    .then(function (response) { return response.json(); })
    .then(function (spec) {
      spec.openapi = "3.0.3";
      window.ui = SwaggerUIBundle({
        spec: spec,
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout"
      });
    })
    .catch(function (error) {
      document.getElementById("swagger-ui").textContent = "Could not load openapi.json: " + error;
    });
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tidegate API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="stylesheet" href="docs/assets/index.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="docs/assets/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/swagger-initializer.js"></script>
</body>
</html>
"""

_ASSET_CACHE = "public, max-age=86400"
_JS = "text/javascript; charset=utf-8"


@router.get(
    "/docs",
    response_class=Response,
    summary="Swagger UI for /openapi.json",
    responses=responses({200: ("The Swagger UI page", {"type": "string"})}, media_type="text/html"),
)
async def docs_page() -> Response:
    return html_response(_PAGE, DOCS_CSP)


@router.get(
    "/docs/assets/{file}",
    response_class=Response,
    summary="A Swagger UI asset",
    responses=responses({200: ("The file", {"type": "string"})}, (404,), media_type="*/*"),
)
async def docs_asset(file: str) -> Response:
    if file == _INITIALIZER:
        return Response(_INITIALIZER_JS, media_type=_JS, headers={"Cache-Control": _ASSET_CACHE})
    media_type = ASSETS.get(file)
    if media_type is None:
        raise NotFound(f"asset not found: {file}")
    return FileResponse(_BUNDLE / file, media_type=media_type, headers={"Cache-Control": _ASSET_CACHE})
