"""``/docs`` (Swagger UI, offline) and ``/openapi.json`` (api.md §14)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import swagger_ui_bundle

from tests.helpers.errors import assert_error
from tidegate.api.routers.docs import ASSETS

ROUTES = {
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/metrics/prometheus"),
    ("post", "/v1/dispatch"),
    ("post", "/v1/dispatch/batch"),
    ("post", "/v1/dispatch/stream"),
    ("get", "/v1/stream"),
    ("get", "/v1/rules"),
    ("post", "/v1/rules/reload"),
    ("put", "/v1/rules/{name}/enabled"),
    ("get", "/v1/audit"),
    ("get", "/v1/audit/{action_id}"),
    ("get", "/v1/events"),
    ("get", "/v1/events/{fingerprint}"),
    ("put", "/v1/events/{fingerprint}/transition"),
    ("get", "/v1/groups"),
    ("get", "/v1/groups/{group_key}"),
    ("delete", "/v1/groups/{group_key}"),
    ("get", "/v1/approvals"),
    ("get", "/v1/approvals/{namespace}/{tenant}/{approval_id}"),
    ("get", "/v1/approvals/{namespace}/{tenant}/{approval_id}/approve"),
    ("get", "/v1/approvals/{namespace}/{tenant}/{approval_id}/reject"),
    ("post", "/v1/approvals/{namespace}/{tenant}/{approval_id}/approve"),
    ("post", "/v1/approvals/{namespace}/{tenant}/{approval_id}/reject"),
    ("post", "/v1/recurring"),
    ("get", "/v1/recurring"),
    ("get", "/v1/recurring/{recurring_id}"),
    ("put", "/v1/recurring/{recurring_id}"),
    ("delete", "/v1/recurring/{recurring_id}"),
    ("post", "/v1/recurring/{recurring_id}/pause"),
    ("post", "/v1/recurring/{recurring_id}/resume"),
    ("get", "/v1/chains"),
    ("get", "/v1/chains/{chain_id}"),
    ("post", "/v1/chains/{chain_id}/cancel"),
    ("get", "/v1/executions/{execution_id}/history"),
    ("get", "/v1/executions/{execution_id}/events"),
    ("get", "/v1/chains/{chain_id}/events"),
    ("get", "/v1/chains/definitions"),
    ("get", "/v1/chains/definitions/{name}"),
    ("put", "/v1/chains/definitions/{name}"),
    ("delete", "/v1/chains/definitions/{name}"),
    ("get", "/admin/circuit-breakers"),
    ("post", "/admin/circuit-breakers/{provider}/trip"),
    ("post", "/admin/circuit-breakers/{provider}/reset"),
    ("post", "/v1/embeddings/similarity"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/docs"),
    ("get", "/docs/assets/{file}"),
    ("get", "/openapi.json"),
    ("get", "/ui"),
    ("get", "/ui/assets/{file}"),
}
BUNDLE = Path(swagger_ui_bundle.swagger_ui_path)
LOGOUT = ("post", "/v1/auth/logout")
#: The approval links (api.md §7): signed, no credentials; the POSTs also take them (credentialed decisions).
SIGNED = {route for route in ROUTES if route[1].startswith("/v1/approvals/")}
DECISIONS = {route for route in SIGNED if route[0] == "post"}
PROTECTED = {
    route
    for route in ROUTES
    if route[1].startswith(("/v1/", "/admin/")) and "/v1/auth/" not in route[1] and route not in SIGNED
}


async def test_docs_page_is_html_with_strict_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp


async def test_docs_page_references_only_local_assets(client: httpx.AsyncClient) -> None:
    html = (await client.get("/docs")).text
    assert "//" not in html.replace("<!DOCTYPE html>", "")  # no scheme-relative or absolute URL
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references
    assert all(ref.startswith("docs/assets/") for ref in references)
    assert "<script>" not in html  # no inline script: the CSP forbids it
    for reference in references:
        response = await client.get(f"/{reference}")
        assert response.status_code == 200, reference


async def test_assets_come_from_the_installed_bundle(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.content == (BUNDLE / "swagger-ui-bundle.js").read_bytes()
    css = await client.get("/docs/assets/swagger-ui.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert (await client.get("/docs/assets/favicon-32x32.png")).headers["content-type"] == "image/png"
    assert all((BUNDLE / name).is_file() for name in ASSETS)


async def test_initializer_points_at_the_local_document(client: httpx.AsyncClient) -> None:
    script = (await client.get("/docs/assets/swagger-initializer.js")).text
    assert 'fetch("openapi.json"' in script
    assert "validatorUrl: null" in script
    assert "petstore" not in script


@pytest.mark.parametrize(
    "name", ["index.html", "..%2F..%2Fsetup.py", "swagger-ui.js.map", "nope.js", "oauth2-redirect.html"]
)
async def test_other_asset_names_are_404(client: httpx.AsyncClient, name: str) -> None:
    assert_error(await client.get(f"/docs/assets/{name}"), 404, "not_found")


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def _operations(document: dict[str, object]) -> dict[tuple[str, str], dict[str, object]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {(method, path): op for path, ops in paths.items() for method, op in ops.items()}


def test_document_lists_exactly_the_routes(document: dict[str, object]) -> None:
    assert document["openapi"].startswith("3.1")  # type: ignore[union-attr]
    assert set(_operations(document)) == ROUTES


def test_one_error_schema_and_both_security_schemes(document: dict[str, object]) -> None:
    components = document["components"]
    assert isinstance(components, dict)
    schemas = components["schemas"]
    assert list(schemas["Error"]["required"]) == [
        "code",
        "message",
        "retryable",
        "detail",
        "error_code",
        "correlation_id",
        "timestamp",
    ]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert components["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A JWT from login, or an API key"},
        "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }


def test_every_error_status_uses_the_error_schema(document: dict[str, object]) -> None:
    for key, operation in _operations(document).items():
        responses = operation["responses"]
        assert isinstance(responses, dict)
        assert "500" in responses, key
        for status, response in responses.items():
            assert "X-Request-ID" in response["headers"], (key, status)
            if int(status) >= 400 and not (key == ("get", "/health") and status == "503"):
                expected = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                if key in SIGNED and status not in ("422", "500"):  # an HTML page for browsers (api.md §7)
                    expected["text/html"] = {"schema": {"type": "string"}}
                assert response["content"] == expected, (key, status)


@pytest.mark.parametrize(
    ("route", "statuses"),
    [
        (
            ("post", "/v1/dispatch"),
            {"200", "400", "401", "403", "404", "413", "415", "422", "429", "500", "503"},
        ),
        (
            ("post", "/v1/dispatch/batch"),
            {"200", "400", "401", "403", "413", "415", "422", "429", "500", "503"},
        ),
        (
            ("post", "/v1/dispatch/stream"),
            {"200", "400", "401", "403", "404", "413", "415", "422", "429", "500", "503"},
        ),
        (
            ("put", "/v1/rules/{name}/enabled"),
            {"200", "400", "401", "403", "404", "413", "415", "422", "429", "500", "503"},
        ),
        (("get", "/v1/audit"), {"200", "400", "401", "403", "404", "422", "429", "500", "503"}),
        (("get", "/v1/stream"), {"200", "400", "401", "403", "429", "500", "503"}),
        (
            ("get", "/v1/executions/{execution_id}/events"),
            {"200", "400", "401", "403", "404", "422", "429", "500", "503"},
        ),
        (("get", "/health"), {"200", "500", "503"}),
        (("get", "/v1/approvals"), {"200", "401", "403", "422", "429", "500", "503"}),
        (
            ("post", "/v1/approvals/{namespace}/{tenant}/{approval_id}/approve"),
            {"200", "401", "403", "404", "409", "410", "422", "500", "503"},
        ),
        (
            ("get", "/v1/approvals/{namespace}/{tenant}/{approval_id}/reject"),
            {"200", "403", "404", "409", "410", "422", "500", "503"},
        ),
        (
            ("get", "/v1/approvals/{namespace}/{tenant}/{approval_id}"),
            {"200", "403", "404", "422", "500", "503"},
        ),
    ],
)
def test_statuses_per_route(document: dict[str, object], route: tuple[str, str], statuses: set[str]) -> None:
    assert set(_operations(document)[route]["responses"]) == statuses  # type: ignore[call-overload]


def test_bodies_and_parameters_are_documented(document: dict[str, object]) -> None:
    operations = _operations(document)
    dispatch = operations[("post", "/v1/dispatch")]
    assert dispatch["requestBody"]["content"]["application/json"]["schema"] == {  # type: ignore[index]
        "$ref": "#/components/schemas/ActionRequest"
    }
    assert {p["name"] for p in dispatch["parameters"]} == {"dry_run", "traceparent", "tracestate"}  # type: ignore[attr-defined]
    audit = operations[("get", "/v1/audit")]
    names = {p["name"] for p in audit["parameters"]}  # type: ignore[attr-defined]
    assert {"namespace", "tenant", "outcome", "verdict", "from", "to", "limit", "offset"} <= names
    enabled = operations[("put", "/v1/rules/{name}/enabled")]
    assert enabled["requestBody"]["content"]["application/json"]["schema"] == {  # type: ignore[index]
        "$ref": "#/components/schemas/EnabledBody"
    }


def test_protected_routes_declare_security(document: dict[str, object]) -> None:
    for key, operation in _operations(document).items():
        if key in PROTECTED:
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}], key
        elif key == LOGOUT:  # a login token only: an API key has no session to end
            assert operation["security"] == [{"bearerAuth": []}]
        elif key in DECISIONS:  # optional: the link, or credentials instead of it
            assert operation["security"] == [{}, {"bearerAuth": []}, {"apiKeyAuth": []}]
        else:
            assert "security" not in operation, key
