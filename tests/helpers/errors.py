"""Checks of README's error body (D4), for every suite that tests an error response."""

from __future__ import annotations

import re

import httpx

__all__ = ["ERROR_KEYS", "assert_error"]

ERROR_KEYS = ["code", "message", "retryable", "detail", "error_code", "correlation_id", "timestamp"]
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def assert_error(
    response: httpx.Response, status: int, code: str, message: str | None = None, *, retryable: bool = False
) -> dict[str, object]:
    """The body has exactly README's keys in order, ``correlation_id`` is the response's X-Request-ID, and
    ``detail`` repeats ``message`` (except on 422, where it is the issue list). Returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ERROR_KEYS
    assert body["code"] == code
    assert body["error_code"] == code
    assert body["retryable"] is retryable
    assert body["correlation_id"] == response.headers["x-request-id"]
    assert _TIMESTAMP.fullmatch(body["timestamp"])
    if message is not None:
        assert body["message"] == message
    if status == 422:
        assert isinstance(body["detail"], list)
        assert body["detail"], "a 422 lists at least one issue"
        for issue in body["detail"]:
            assert list(issue) == ["loc", "msg", "type"]
            assert issue["loc"][0] in ("body", "query", "path", "header")
    else:
        assert body["detail"] == body["message"]
    assert isinstance(body, dict)
    return body
