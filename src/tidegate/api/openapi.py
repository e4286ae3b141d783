"""The OpenAPI 3.1 document (api.md §14): every route with its parameters, bodies and every status it can
return, one ``Error`` schema, and the ``bearerAuth``/``apiKeyAuth`` security schemes.

Routes declare their statuses with ``responses(...)``; ``build_openapi`` adds the component schemas of
``schemas.DOC_MODELS``, the ``X-Request-ID`` header on every response, and replaces FastAPI's own
``HTTPValidationError`` with ``Error`` (there is only one error shape)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from tidegate.api.schemas import DOC_MODELS

__all__ = [
    "AUTH_ERRORS",
    "BODY_ERRORS",
    "PROTECTED",
    "Responses",
    "build_openapi",
    "json_body",
    "query_param",
    "ref",
    "responses",
]

JsonDict = dict[str, Any]
#: FastAPI's ``responses=`` argument.
Responses = dict[int | str, dict[str, Any]]

#: Statuses every endpoint that needs credentials can answer: 401, 403 and the caller rate limit (429).
AUTH_ERRORS = (401, 403, 429)
#: Statuses of reading a JSON body (api.md §1.4): 400 invalid_json, 413, 415, 422.
BODY_ERRORS = (400, 413, 415, 422)

#: Security requirement of every endpoint that needs credentials (either scheme).
PROTECTED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]

_ERROR_TEXT: dict[int, str] = {
    400: "Malformed JSON (`invalid_json`) or semantically invalid input (`bad_request`)",
    401: "Missing, malformed, expired or revoked credentials",
    403: "The role lacks the permission, or no grant covers the request",
    404: "Not found",
    409: "State conflict",
    410: "Gone: the approval link or the approval has expired (`approval_expired`)",
    413: "Body over the size limit",
    415: "Body without `Content-Type: application/json`",
    422: "Body, query or path fails the schema; `detail` lists the issues",
    429: "Rate limited; see `Retry-After`",
    500: "A bug: `internal_error`, without details",
    503: "A backend (state store, audit store, event log) is unreachable",
}

_HEADER_DOCS: dict[int, JsonDict] = {
    401: {"WWW-Authenticate": {"description": "Always `Bearer`", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {"description": "Seconds to wait (at least 1)", "schema": {"type": "integer"}},
        "X-RateLimit-Limit": {
            "description": "Requests per window of the limit that refused (caller or tenant limit only)",
            "schema": {"type": "integer"},
        },
        "X-RateLimit-Remaining": {"description": "Always 0 on a 429", "schema": {"type": "integer"}},
        "X-RateLimit-Reset": {
            "description": "Seconds until the limit's current window ends",
            "schema": {"type": "integer"},
        },
    },
}

_ERROR_CONTENT: JsonDict = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

_REQUEST_ID_HEADER: JsonDict = {
    "description": "The request id: the client's valid `X-Request-ID`, else a new UUIDv7",
    "schema": {"type": "string"},
}


def ref(name: str) -> JsonDict:
    return {"$ref": f"#/components/schemas/{name}"}


def query_param(name: str, description: str, schema: JsonDict) -> JsonDict:
    """An optional query parameter, for routes that read their query themselves."""
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def json_body(schema: JsonDict, description: str | None = None) -> JsonDict:
    """An ``openapi_extra`` ``requestBody`` for endpoints that read their JSON body themselves."""
    body: JsonDict = {"required": True, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def responses(
    ok: Mapping[int, tuple[str, JsonDict]], errors: Iterable[int] = (), media_type: str = "application/json"
) -> Responses:
    """``responses=`` for a route: success statuses (description, schema), then error statuses and 500."""
    result: Responses = {}
    for status, (text, schema) in ok.items():
        result[status] = {"description": text, "content": {media_type: {"schema": schema}}}
    for status in (*errors, 500):
        entry: JsonDict = {"description": _ERROR_TEXT[status], "content": _ERROR_CONTENT}
        if status in _HEADER_DOCS:
            entry["headers"] = dict(_HEADER_DOCS[status])
        result[status] = entry
    return result


def build_openapi(app: FastAPI) -> JsonDict:
    """Generate once and cache on ``app.openapi_schema`` (FastAPI's contract for ``app.openapi``)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _, definitions = models_json_schema(DOC_MODELS, ref_template="#/components/schemas/{model}")
    schemas.update(definitions.get("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A JWT from login, or an API key"},
        "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    document["paths"]["/openapi.json"] = {
        "get": {
            "tags": ["docs"],
            "summary": "This OpenAPI document",
            "operationId": "openapi_document",
            "responses": responses({200: ("The OpenAPI 3.1 document", {"type": "object"})}),
        }
    }
    for operations in document["paths"].values():
        for operation in operations.values():
            _finish_operation(operation)
    app.openapi_schema = document
    return document


def _finish_operation(operation: JsonDict) -> None:
    for status, response in operation.get("responses", {}).items():
        if str(status) == "422":
            response["content"] = _ERROR_CONTENT
            response["description"] = _ERROR_TEXT[422]
        response.setdefault("headers", {})["X-Request-ID"] = _REQUEST_ID_HEADER
