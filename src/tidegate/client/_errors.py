"""The one exception tree the SDK raises; each carries ``code``, ``message``, ``retryable``, ``status``.

TidegateClientError               anything the SDK raises
├── TransportError                the server could not be reached, or the connection dropped (retryable)
├── ProtocolError                 the server answered something the spec does not allow
├── StreamInterrupted             a dispatch stream ended before ``done``; it is not resumed, so the
│                                 dispatch may or may not have finished (look it up in the audit)
└── APIError                      an error body (README, D4); the subclass is chosen by HTTP status
    ├── BadRequestError           400: invalid_json, bad_request, invalid_filter, invalid_cron, ...
    ├── AuthenticationError       401: unauthorized, invalid_credentials
    ├── PermissionDeniedError     403: forbidden, invalid_signature
    ├── NotFoundError             404: not_found, provider_not_found, feature_disabled, auth_disabled
    ├── MethodNotAllowedError     405
    ├── ConflictError             409: conflict, invalid_transition, approval_decided
    ├── GoneError                 410: approval_expired
    ├── PayloadTooLargeError      413
    ├── UnsupportedMediaTypeError 415
    ├── ValidationError           422 (``detail`` is the list of issues)
    ├── RateLimitedError          429: rate_limited, too_many_connections (``retry_after`` seconds)
    ├── ServerError               5xx: internal_error, embedding_failed
    └── ServiceUnavailableError   503: backend_unavailable, streaming_disabled
"""

from __future__ import annotations

from typing import ClassVar

import httpx
import orjson

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "GoneError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamInterrupted",
    "TidegateClientError",
    "TransportError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "error_from_response",
]


class TidegateClientError(Exception):
    """Base of the tree; ``status`` is the HTTP status, or None when no answer came."""

    def __init__(self, message: str, *, code: str, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.status = status

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.code}: {self.message}"


class TransportError(TidegateClientError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="transport_error", retryable=True)


class ProtocolError(TidegateClientError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, code="protocol_error", retryable=False, status=status)


class StreamInterrupted(TidegateClientError):
    def __init__(self, message: str, action_id: str | None = None) -> None:
        super().__init__(message, code="stream_interrupted", retryable=False)
        self.action_id = action_id


class APIError(TidegateClientError):
    """An error answer. ``detail`` is the message, or a 422's list of ``{"loc","msg","type"}`` issues;
    ``correlation_id`` is the request id to quote to an operator; ``retry_after`` comes from the header."""

    status_code: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool,
        status: int,
        detail: object = None,
        correlation_id: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable, status=status)
        self.detail = message if detail is None else detail
        self.correlation_id = correlation_id
        self.retry_after = retry_after


class BadRequestError(APIError):
    status_code = 400


class AuthenticationError(APIError):
    status_code = 401


class PermissionDeniedError(APIError):
    status_code = 403


class NotFoundError(APIError):
    status_code = 404


class MethodNotAllowedError(APIError):
    status_code = 405


class ConflictError(APIError):
    status_code = 409


class GoneError(APIError):
    status_code = 410


class PayloadTooLargeError(APIError):
    status_code = 413


class UnsupportedMediaTypeError(APIError):
    status_code = 415


class ValidationError(APIError):
    status_code = 422


class RateLimitedError(APIError):
    status_code = 429


class ServerError(APIError):
    status_code = 500


class ServiceUnavailableError(ServerError):
    status_code = 503


_BY_STATUS: dict[int, type[APIError]] = {
    cls.status_code: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        MethodNotAllowedError,
        ConflictError,
        GoneError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        ValidationError,
        RateLimitedError,
        ServerError,
        ServiceUnavailableError,
    )
    if cls.status_code is not None
}


def _retry_after(response: httpx.Response) -> int | None:
    try:
        return max(1, int(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def error_from_response(response: httpx.Response, body: bytes) -> APIError:
    """The exception for an error answer; a body that is not README's shape still gives a typed error."""
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        reason = response.reason_phrase or "error"
        return cls(
            f"HTTP {status} {reason}",
            code="http_error",
            retryable=status >= 500 or status == 429,
            status=status,
            retry_after=_retry_after(response),
        )
    return cls(
        str(data.get("message", "")),
        code=data["code"],
        retryable=bool(data.get("retryable", False)),
        status=status,
        detail=data.get("detail"),
        correlation_id=data.get("correlation_id") or response.headers.get("x-request-id"),
        retry_after=_retry_after(response),
    )
