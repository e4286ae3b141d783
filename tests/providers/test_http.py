"""Status and transport classification shared by the webhook and Slack providers (STYLE §6)."""

from __future__ import annotations

import ssl

import httpx
import pytest

from tidegate.providers._http import new_http_client, parse_retry_after, status_error, transport_error


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 10 ", 10.0),
        ("1.5", 1.5),
        ("0", 0.0),
        (None, None),
        ("-3", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (429, "rate_limited", True),
        (500, "execution_failed", True),
        (503, "execution_failed", True),
        (599, "execution_failed", True),
        (100, "execution_failed", False),
        (301, "execution_failed", False),
        (304, "execution_failed", False),
        (400, "execution_failed", False),
        (404, "execution_failed", False),
        (451, "execution_failed", False),
    ],
)
def test_status_error(status: int, code: str, retryable: bool) -> None:
    error = status_error(status, "https://hooks.example.com/x", retry_after=3.0)
    assert (error.code, error.retryable) == (code, retryable)
    assert error.message == f"HTTP {status} from https://hooks.example.com/x"
    assert error.retry_after == (3.0 if status == 429 else None)


def _chained(outer: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (httpx.ReadTimeout("x"), "timeout", "timeout: no response in time"),
        (httpx.PoolTimeout("x"), "timeout", "timeout: no response in time"),
        (
            _chained(httpx.ConnectError("x"), ConnectionRefusedError(111, "refused")),
            "connection",
            "connection error: connection refused",
        ),
        (
            _chained(httpx.ConnectError("x"), ssl.SSLCertVerificationError("bad cert")),
            "connection",
            "connection error: TLS certificate verification failed",
        ),
        (
            _chained(httpx.ConnectError("x"), ssl.SSLError("handshake")),
            "connection",
            "connection error: TLS handshake failed",
        ),
        (
            _chained(httpx.ReadError("x"), ConnectionResetError(104, "reset")),
            "connection",
            "connection error: connection reset",
        ),
        (httpx.ConnectError("x"), "connection", "connection error: cannot connect"),
        (
            httpx.RemoteProtocolError("x"),
            "connection",
            "connection error: connection closed before a complete response",
        ),
        (httpx.WriteError("x"), "connection", "connection error: connection lost"),
    ],
)
def test_transport_error(exc: httpx.HTTPError, code: str, message: str) -> None:
    error = transport_error(exc)
    assert (error.code, error.message, error.retryable) == (code, message, True)


async def test_new_http_client_keeps_no_cookies_and_follows_no_redirects() -> None:
    async with new_http_client() as client:
        assert client.follow_redirects is False
        assert client.timeout == httpx.Timeout(None)
        client.cookies.extract_cookies(
            httpx.Response(
                200, headers={"Set-Cookie": "sid=1"}, request=httpx.Request("GET", "http://a.test/")
            )
        )
        assert len(client.cookies.jar) == 0
