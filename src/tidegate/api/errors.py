"""The one error table: every failure becomes README's error body (D4), chosen by the exception's MRO.

Domain errors (``TidegateError``), Starlette's routing errors (404/405) and FastAPI's validation errors all
leave through ``render``. Anything else is a bug: a logged, generic 500 that names only the correlation id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from tidegate.api.request_id import request_id_of
from tidegate.api.validation import Issue, describe, issues
from tidegate.errors import (
    BackendUnavailable,
    Conflict,
    EmbeddingFailed,
    Forbidden,
    Gone,
    InvalidBody,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TidegateError,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from tidegate.model.time import format_ts

__all__ = [
    "ERROR_CODES",
    "STATUS",
    "error_body",
    "error_response",
    "install_error_handlers",
    "internal_error_response",
    "render",
    "status_of",
]

log = logging.getLogger("tidegate.api")

#: HTTP status per domain error class; the most specific class on the exception's MRO wins.
STATUS: dict[type[TidegateError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ValidationFailed: 422,
    InvalidBody: 400,
    RateLimited: 429,
    BackendUnavailable: 503,
    EmbeddingFailed: 500,
}

#: Every ``code`` an error body can carry (README's D4 table); the OpenAPI ``Error`` schema lists them.
ERROR_CODES: tuple[str, ...] = (
    "invalid_json",
    "bad_request",
    "invalid_filter",
    "invalid_cron",
    "invalid_timezone",
    "unauthorized",
    "invalid_credentials",
    "forbidden",
    "invalid_signature",
    "not_found",
    "provider_not_found",
    "feature_disabled",
    "auth_disabled",
    "method_not_allowed",
    "conflict",
    "invalid_transition",
    "approval_decided",
    "approval_expired",
    "payload_too_large",
    "unsupported_media_type",
    "validation_error",
    "rate_limited",
    "too_many_connections",
    "internal_error",
    "embedding_failed",
    "backend_unavailable",
    "streaming_disabled",
)

#: Codes for errors Starlette raises as HTTPException (routing), by status.
_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "backend_unavailable",
}


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def status_of(exc: TidegateError) -> int | None:
    """The mapped status, or None for a class the table does not know (a bug: 500)."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return None


def error_body(
    code: str,
    message: str,
    *,
    retryable: bool,
    correlation_id: str,
    now: datetime,
    detail: Sequence[Issue] | None = None,
) -> bytes:
    """README's body, keys in its order; ``detail`` repeats ``message`` unless a 422 list is given."""
    return orjson.dumps(
        {
            "code": code,
            "message": message,
            "retryable": retryable,
            "detail": message if detail is None else list(detail),
            "error_code": code,
            "correlation_id": correlation_id,
            "timestamp": format_ts(now),
        }
    )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    correlation_id: str,
    now: datetime,
    retryable: bool = False,
    detail: Sequence[Issue] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    extra = dict(headers or {})
    if status == 429:
        extra.setdefault("Retry-After", "1")
    elif status == 401:
        extra.setdefault("WWW-Authenticate", "Bearer")
    body = error_body(
        code, message, retryable=retryable, correlation_id=correlation_id, now=now, detail=detail
    )
    return Response(body, status_code=status, media_type="application/json", headers=extra)


def internal_error_response(correlation_id: str, now: datetime) -> Response:
    return error_response(500, "internal_error", "internal error", correlation_id=correlation_id, now=now)


def render(exc: Exception, scope: Scope) -> Response:
    """The response for any exception raised while handling a request (never raises)."""
    rid = request_id_of(scope)
    now = _now(scope)
    if isinstance(exc, TidegateError):
        return _render_domain(exc, rid, now)
    if isinstance(exc, RequestValidationError):
        detail = issues(exc.errors())
        message = describe(detail)
        return error_response(422, "validation_error", message, correlation_id=rid, now=now, detail=detail)
    if isinstance(exc, HTTPException):
        return _render_http(exc, scope, rid, now)
    log.error("internal error (correlation_id=%s)", rid, exc_info=exc)
    return internal_error_response(rid, now)


def _render_domain(exc: TidegateError, rid: str, now: datetime) -> Response:
    status = status_of(exc)
    if status is None:
        log.error("unmapped domain error (correlation_id=%s)", rid, exc_info=exc)
        return internal_error_response(rid, now)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    detail: list[Issue] | None = None
    if isinstance(exc, ValidationFailed):
        detail = exc.detail or [{"loc": ["body"], "msg": exc.message, "type": "value_error"}]
    return error_response(
        status,
        exc.code,
        exc.message,
        correlation_id=rid,
        now=now,
        retryable=exc.retryable,
        detail=detail,
        headers=headers,
    )


def _render_http(exc: HTTPException, scope: Scope, rid: str, now: datetime) -> Response:
    status = exc.status_code
    if status == 404:
        return error_response(404, "not_found", "not found", correlation_id=rid, now=now)
    if status == 405:
        allow = allowed_methods(scope)
        message = f"method not allowed: {scope.get('method', '')}"
        return error_response(
            405, "method_not_allowed", message, correlation_id=rid, now=now, headers={"Allow": allow}
        )
    code = _HTTP_CODES.get(status)
    if code is None:
        log.error("unexpected HTTP %d from the framework (correlation_id=%s)", status, rid, exc_info=exc)
        return internal_error_response(rid, now)
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else code.replace("_", " ")
    retryable = status in (429, 503)
    return error_response(
        status,
        code,
        message,
        correlation_id=rid,
        now=now,
        retryable=retryable,
        headers=dict(exc.headers or {}),
    )


def allowed_methods(scope: Scope) -> str:
    """Every method some route serves at this path (Starlette's own ``Allow`` names only the first route's).

    Asks each route to match a fresh probe scope per method, so it works through included routers."""
    app = scope.get("app")
    routes = getattr(getattr(app, "router", None), "routes", ())
    allowed = []
    for method in _METHODS:
        probe = {
            "type": "http",
            "method": method,
            "path": scope.get("path", ""),
            "root_path": scope.get("root_path", ""),
            "app": app,
        }
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return ", ".join(allowed)


def _now(scope: Scope) -> datetime:
    app = scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    clock = getattr(services, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


async def _handle(request: Request, exc: Exception) -> Response:
    return render(exc, request.scope)


def install_error_handlers(app: FastAPI) -> None:
    """Route domain, validation and routing errors through ``render``; the edge middleware takes the rest."""
    app.add_exception_handler(TidegateError, _handle)
    app.add_exception_handler(RequestValidationError, _handle)
    app.add_exception_handler(HTTPException, _handle)
