"""Error answers become the one exception tree, chosen by status, carrying README's fields."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tidegate.client import (
    APIError,
    AuthenticationError,
    ConflictError,
    GoneError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    TidegateClientError,
    ValidationError,
)
from tidegate.client._errors import error_from_response


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> APIError:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = httpx.Response(status, content=content, headers=headers or {})
    return error_from_response(response, content)


def body(code: str, message: str = "m", retryable: bool = False, **extra: object) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "retryable": retryable,
        "detail": message,
        "error_code": code,
        "correlation_id": "req-1",
        "timestamp": "2026-02-07T14:30:00.000000Z",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthorized", AuthenticationError),
        (404, "feature_disabled", NotFoundError),
        (409, "approval_decided", ConflictError),
        (410, "approval_expired", GoneError),
        (500, "embedding_failed", ServerError),
        (503, "streaming_disabled", ServiceUnavailableError),
    ],
)
def test_status_picks_the_class_and_the_body_fills_it(status: int, code: str, cls: type[APIError]) -> None:
    error = answer(status, body(code, "why", retryable=status == 500))
    assert type(error) is cls and isinstance(error, TidegateClientError)
    assert (error.status, error.code, error.message, error.correlation_id) == (status, code, "why", "req-1")
    assert error.retryable is (status == 500)
    assert str(error) == f"{status} {code}: why"


def test_rate_limits_carry_retry_after() -> None:
    error = answer(429, body("too_many_connections", retryable=True), {"Retry-After": "5"})
    assert isinstance(error, RateLimitedError) and error.retry_after == 5 and error.retryable


def test_validation_detail_is_the_issue_list() -> None:
    issues = [{"loc": ["body", "tenant"], "msg": "Field required", "type": "missing"}]
    error = answer(422, {**body("validation_error"), "detail": issues})
    assert isinstance(error, ValidationError) and error.detail == issues


def test_a_body_that_is_not_the_error_shape_still_gives_a_typed_error() -> None:
    error = answer(502, b"<html>bad gateway</html>", {"X-Request-ID": "x"})
    assert isinstance(error, ServerError) and error.code == "http_error" and error.retryable
    assert error.message == "HTTP 502 Bad Gateway"
