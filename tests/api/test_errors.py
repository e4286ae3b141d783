"""Every error leaves as README's body (D4), over a real server: framework, routing and body errors alike."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.exceptions import HTTPException

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.api.errors import render, status_of
from tidegate.errors import (
    BackendUnavailable,
    ConfigError,
    Conflict,
    FeatureDisabled,
    Forbidden,
    InvalidJson,
    ProviderNotFound,
    RateLimited,
    TidegateError,
    Unauthenticated,
    ValidationFailed,
)

from .conftest import ACTION, make_settings

JSON = {"content-type": "application/json"}


# --- body errors, in api.md §1.4's order ---------------------------------------------------------------


async def test_malformed_json_is_400_invalid_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch", content=b'{"namespace": ', headers=JSON)
    assert_error(response, 400, "invalid_json")


async def test_body_that_is_not_utf8_is_400_invalid_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch", content=b'{"namespace": "\xff\xfe"}', headers=JSON)
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_nan_and_infinity_are_not_json(client: httpx.AsyncClient, literal: bytes) -> None:
    body = b'{"namespace":"n","tenant":"t","provider":"log","action_type":"a","payload":' + literal + b"}"
    response = await client.post("/v1/dispatch", content=body, headers=JSON)
    assert_error(response, 400, "invalid_json")


async def test_empty_body_is_invalid_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/dispatch", content=b"", headers=JSON), 400, "invalid_json")


async def test_nesting_deeper_than_64_is_422(client: httpx.AsyncClient) -> None:
    payload: object = "leaf"
    for _ in range(64):  # the action object is depth 1, so its payload may nest 63 more levels
        payload = [payload]
    deep = orjson.dumps({**ACTION, "payload": payload})
    body = assert_error(
        await client.post("/v1/dispatch", content=deep, headers=JSON), 422, "validation_error"
    )
    assert body["detail"] == [
        {"loc": ["body"], "msg": "JSON is nested deeper than 64 levels", "type": "too_deep"}
    ]
    just_fits = orjson.dumps({**ACTION, "payload": payload[0]})  # type: ignore[index]
    assert (await client.post("/v1/dispatch", content=just_fits, headers=JSON)).status_code == 200


async def test_nesting_beyond_the_parser_limit_is_still_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dispatch", content=b"[" * 2000 + b"]" * 2000, headers=JSON)
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
async def test_body_without_json_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/v1/dispatch", content=orjson.dumps(ACTION), headers=headers)
    assert_error(response, 415, "unsupported_media_type")


async def test_json_content_type_with_parameters_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "Application/JSON; charset=utf-8"}
    response = await client.post("/v1/dispatch", content=orjson.dumps(ACTION), headers=headers)
    assert response.status_code == 200


async def test_schema_violation_is_422_with_the_detail_list(client: httpx.AsyncClient) -> None:
    missing = {k: v for k, v in ACTION.items() if k != "namespace"}
    body = assert_error(await client.post("/v1/dispatch", json=missing), 422, "validation_error")
    assert body["detail"] == [{"loc": ["body", "namespace"], "msg": "Field required", "type": "missing"}]
    assert body["message"] == "body.namespace: Field required"


async def test_415_comes_before_400_and_400_before_422(client: httpx.AsyncClient) -> None:
    not_json_not_typed = await client.post(
        "/v1/dispatch", content=b"{", headers={"content-type": "text/plain"}
    )
    assert_error(not_json_not_typed, 415, "unsupported_media_type")
    bad_json_bad_query = await client.post("/v1/dispatch?dry_run=maybe", content=b"{", headers=JSON)
    assert_error(bad_json_bad_query, 400, "invalid_json")


# --- routing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/health/", "/v1/dispatch/", "/V1/dispatch"])
async def test_unknown_path_is_404_not_found(client: httpx.AsyncClient, path: str) -> None:
    assert_error(await client.get(path), 404, "not_found", "not found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/dispatch", "POST"),
        ("DELETE", "/health", "GET"),
        ("POST", "/v1/rules", "GET"),
        ("GET", "/v1/rules/block-spam/enabled", "PUT"),
        ("PUT", "/openapi.json", "GET, HEAD"),
    ],
)
async def test_wrong_method_is_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow


# --- body size -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(
        tmp_path_factory.mktemp("small"), server={"max_body_bytes": 2048, "max_batch_body_bytes": 4096}
    )
    with serving(settings) as url:
        yield url


async def _raw_exchange(base_url: str, request: bytes) -> bytes:
    """Send raw bytes and read until the server closes or a full response head and body arrived."""
    host, port = httpx.URL(base_url).host, httpx.URL(base_url).port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        writer.close()


async def test_declared_content_length_over_the_limit_is_413_before_the_body_is_sent(
    small_server: str,
) -> None:
    head = (
        b"POST /v1/dispatch HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    data = await _raw_exchange(small_server, head)  # not one byte of the body is sent
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413 ")
    body = orjson.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["code"] == "payload_too_large"
    assert body["message"] == "request body exceeds the limit of 2048 bytes"


async def test_unknown_path_wins_over_the_body_limit(small_server: str) -> None:
    head = (
        b"POST /v1/nope HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    )
    status_line = (await _raw_exchange(small_server, head)).partition(b"\r\n")[0]
    assert status_line.startswith(b"HTTP/1.1 404 ")


async def test_chunked_body_over_the_limit_is_413(small_server: str) -> None:
    async def chunks() -> object:
        for _ in range(10):
            yield b" " * 1000

    async with httpx.AsyncClient(base_url=small_server) as http:
        response = await http.post("/v1/dispatch", content=chunks(), headers=JSON)  # type: ignore[arg-type]
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large", "request body exceeds the limit of 2048 bytes")


async def test_413_comes_before_415(small_server: str) -> None:
    async with httpx.AsyncClient(base_url=small_server) as http:
        response = await http.post(
            "/v1/dispatch", content=b" " * 3000, headers={"content-type": "text/plain"}
        )
    assert_error(response, 413, "payload_too_large")


async def test_body_at_the_limit_is_read(small_server: str) -> None:
    body = orjson.dumps(ACTION)
    padded = body + b" " * (2048 - len(body))
    async with httpx.AsyncClient(base_url=small_server) as http:
        response = await http.post("/v1/dispatch", content=padded, headers=JSON)
    assert response.status_code == 200, response.text


async def test_batch_path_has_its_own_limit(small_server: str) -> None:
    body = b"[" + b" " * 3000 + b"]"
    async with httpx.AsyncClient(base_url=small_server) as http:
        assert (await http.post("/v1/dispatch/batch", content=body, headers=JSON)).json() == {"results": []}
        too_big = b"[" + b" " * 5000 + b"]"
        response = await http.post("/v1/dispatch/batch", content=too_big, headers=JSON)
    assert_error(response, 413, "payload_too_large", "request body exceeds the limit of 4096 bytes")


async def test_endpoint_without_body_ignores_body_and_content_type(small_server: str) -> None:
    async with httpx.AsyncClient(base_url=small_server) as http:
        response = await http.post(
            "/v1/rules/reload", content=b"x" * 3000, headers={"content-type": "text/plain"}
        )
    assert response.status_code == 200


# --- the table (pure) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidJson("x"), 400),
        (ValidationFailed("x"), 422),
        (Unauthenticated("x"), 401),
        (Forbidden("x"), 403),
        (ProviderNotFound("sms"), 404),
        (FeatureDisabled("x"), 404),
        (Conflict("x"), 409),
        (RateLimited("x"), 429),
        (BackendUnavailable("x"), 503),
        (TidegateError("x"), None),
        (ConfigError(["x"]), None),
    ],
)
def test_status_is_found_by_mro(error: TidegateError, status: int | None) -> None:
    assert status_of(error) == status


def _scope() -> dict[str, object]:
    return {"type": "http", "method": "GET", "path": "/x", "state": {"request_id": "req-1"}, "headers": []}


def _decode(response: object) -> tuple[int, dict[str, str], dict[str, object]]:
    from starlette.responses import Response

    assert isinstance(response, Response)
    headers = {k.decode(): v.decode() for k, v in response.raw_headers}
    return response.status_code, headers, orjson.loads(response.body)


def test_429_has_retry_after_from_the_error() -> None:
    status, headers, body = _decode(render(RateLimited("slow down", retry_after=7), _scope()))
    assert (status, headers["retry-after"], body["retryable"]) == (429, "7", True)
    assert body["correlation_id"] == "req-1"


def test_401_has_www_authenticate_bearer() -> None:
    status, headers, body = _decode(render(Unauthenticated("missing credentials"), _scope()))
    assert (status, headers["www-authenticate"], body["code"]) == (401, "Bearer", "unauthorized")


def test_503_is_retryable() -> None:
    status, _, body = _decode(render(BackendUnavailable("state store unreachable"), _scope()))
    assert (status, body["code"], body["retryable"]) == (503, "backend_unavailable", True)


def test_unexpected_exception_is_a_generic_500_logged_with_the_correlation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, _, body = _decode(render(RuntimeError("secret-token-123 leaked"), _scope()))
    assert (status, body["code"], body["message"], body["detail"]) == (
        500,
        "internal_error",
        "internal error",
        "internal error",
    )
    assert "secret-token-123" not in orjson.dumps(body).decode()
    record = next(r for r in caplog.records if r.name == "tidegate.api")
    assert "correlation_id=req-1" in record.getMessage()
    assert record.exc_info is not None


def test_unmapped_domain_error_is_500() -> None:
    status, _, body = _decode(render(ConfigError(["db password is hunter2"]), _scope()))
    assert (status, body["message"]) == (500, "internal error")


def test_other_framework_statuses_keep_their_code() -> None:
    status, _, body = _decode(render(HTTPException(409, "already there"), _scope()))
    assert (status, body["code"], body["message"]) == (409, "conflict", "already there")
    status, _, body = _decode(render(HTTPException(418), _scope()))
    assert (status, body["code"]) == (500, "internal_error")
