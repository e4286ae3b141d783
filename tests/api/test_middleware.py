"""The edge middleware: request ids, nosniff, the HTTP metric, access-log lines, the 500 fallback, CORS."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import orjson
import pytest
from starlette.datastructures import State
from starlette.types import Message, Receive, Scope, Send

from tests.helpers.errors import assert_error
from tests.helpers.server import serving
from tidegate.api.access_log import redact_query
from tidegate.api.middleware import BodyLimits, EdgeMiddleware
from tidegate.api.request_id import REQUEST_ID, RequestIdFilter, pick_request_id
from tidegate.cli import JsonFormatter, TextFormatter

from .conftest import make_settings

# --- request ids ---------------------------------------------------------------------------------------


def _is_uuid7(text: str) -> bool:
    return len(text) == 36 and uuid.UUID(text).version == 7


@pytest.mark.parametrize("incoming", ["abc-123", "x" * 128, "!~", "0" * 36])
async def test_valid_request_id_is_echoed(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/metrics", headers={"x-request-id": incoming})
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize("incoming", [b"x" * 129, b"has space", b"", b"caf\xc3\xa9", b"tab\there"])
async def test_invalid_request_id_is_replaced_by_a_uuid7(client: httpx.AsyncClient, incoming: bytes) -> None:
    response = await client.get("/metrics", headers=[(b"x-request-id", incoming)])
    assert _is_uuid7(response.headers["x-request-id"])


async def test_request_id_is_made_when_absent_and_differs_per_request(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/metrics"), await client.get("/metrics")
    assert _is_uuid7(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_error_bodies_repeat_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope", headers={"x-request-id": "trace-me-42"})
    body = assert_error(response, 404, "not_found")
    assert body["correlation_id"] == "trace-me-42"


@pytest.mark.parametrize("path", ["/health", "/nope", "/docs", "/docs/assets/index.css", "/openapi.json"])
async def test_every_response_has_request_id_and_nosniff(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


def test_pick_request_id_bounds() -> None:
    assert pick_request_id(b"\x21\x7e") == "!~"
    assert _is_uuid7(pick_request_id(b"\x7f"))
    assert _is_uuid7(pick_request_id(None))


def test_request_id_filter_adds_the_current_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    token = REQUEST_ID.set("req-9")
    try:
        assert RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    assert record.request_id == "req-9"  # type: ignore[attr-defined]


# --- metrics and access log ----------------------------------------------------------------------------


async def test_http_metric_uses_the_route_template_or_unmatched(client: httpx.AsyncClient) -> None:
    def counts(text: str) -> tuple[float, float]:
        def value(series: str) -> float:
            line = next((line for line in text.splitlines() if line.startswith(series + " ")), None)
            return 0.0 if line is None else float(line.rsplit(" ", 1)[1])

        return (
            value('tidegate_http_requests_total{method="GET",route="/v1/audit/{action_id}",status="404"}'),
            value('tidegate_http_requests_total{method="GET",route="unmatched",status="404"}'),
        )

    before = counts((await client.get("/metrics/prometheus")).text)
    await client.get("/v1/audit/no-such-action")
    await client.get("/definitely/not/a/route")
    await client.get("/definitely/not/a/route")
    after = counts((await client.get("/metrics/prometheus")).text)
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 2.0)


async def test_access_log_line_redacts_sensitive_query_values(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tidegate.access")
    query = "limit=5&token=t0k3n&sig=abcdef&key=k3y&api_key=ak&Password=pw&namespace=ns"
    response = await client.get(
        f"/v1/audit?{query}", headers={"authorization": "Bearer very-secret", "x-request-id": "log-me"}
    )
    assert response.status_code == 200
    for _ in range(100):  # the server thread logs after sending the response
        records = [
            r
            for r in caplog.records
            if r.name == "tidegate.access" and getattr(r, "request_id", "") == "log-me"
        ]
        if records:
            break
        await asyncio.sleep(0.01)
    lines = [r.getMessage() for r in records]
    assert lines == [
        "GET /v1/audit?limit=5&token=[redacted]&sig=[redacted]&key=[redacted]&api_key=[redacted]"
        f"&Password=[redacted]&namespace=ns 200 {lines[0].split(' ')[3]}"
    ]
    for secret in ("t0k3n", "abcdef", "k3y", "very-secret", "pw&"):
        assert secret not in lines[0]
    assert lines[0].split(" ")[3].endswith("ms")
    # As the server's log handler writes it (with its request-id filter): the id appears exactly once.
    assert RequestIdFilter().filter(records[0])
    text = TextFormatter().format(records[0])
    assert text.endswith(f"{lines[0]} request_id=log-me") and text.count("log-me") == 1
    entry = orjson.loads(JsonFormatter().format(records[0]))
    assert entry["msg"] == lines[0] and entry["request_id"] == "log-me"
    assert orjson.dumps(entry).decode().count("log-me") == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", ""),
        (b"a=1&b=2", "a=1&b=2"),
        (b"sig=x", "sig=[redacted]"),
        (b"SIG=x&token", "SIG=[redacted]&token"),
        (b"%74oken=x", "%74oken=[redacted]"),
        (b"keys=1&key=2", "keys=1&key=[redacted]"),
    ],
)
def test_redact_query(query: bytes, expected: str) -> None:
    assert redact_query(query) == expected


# --- the 500 fallback (unit: an app that raises) --------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def record_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.calls.append((method, route, status))


def _middleware(app: object) -> tuple[EdgeMiddleware, _Recorder]:
    recorder = _Recorder()
    state = State()
    state.services = SimpleNamespace(metrics=recorder, clock=None)
    return EdgeMiddleware(app, app_state=state, limits=BodyLimits(1024, 2048)), recorder  # type: ignore[arg-type]


def _http_scope() -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": "/boom",
        "raw_path": b"/boom",
        "query_string": b"",
        "headers": [(b"x-request-id", b"req-500")],
    }


async def _call(middleware: EdgeMiddleware) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(_http_scope(), receive, send)
    return sent


async def test_unexpected_exception_becomes_the_generic_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("password=hunter2")

    middleware, recorder = _middleware(app)
    sent = await _call(middleware)
    start, body = sent[0], orjson.loads(sent[1]["body"])
    headers = dict(start["headers"])
    assert start["status"] == 500
    assert headers[b"x-request-id"] == b"req-500"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert (body["code"], body["message"], body["correlation_id"]) == (
        "internal_error",
        "internal error",
        "req-500",
    )
    assert "hunter2" not in sent[1]["body"].decode()
    assert any("correlation_id=req-500" in r.getMessage() for r in caplog.records if r.name == "tidegate.api")
    assert recorder.calls == [("GET", "unmatched", 500)]


async def test_exception_after_the_response_started_is_reraised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("mid-stream")

    middleware, recorder = _middleware(app)
    with pytest.raises(RuntimeError):
        await _call(middleware)
    assert recorder.calls == [("GET", "unmatched", 200)]


async def test_request_cancelled_before_any_response_is_counted_as_499() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise asyncio.CancelledError

    middleware, recorder = _middleware(app)
    with pytest.raises(asyncio.CancelledError):
        await _call(middleware)
    assert recorder.calls == [("GET", "unmatched", 499)]


async def test_request_id_is_visible_to_the_app_and_reset_after() -> None:
    seen: list[tuple[str, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["state"]["request_id"], REQUEST_ID.get()))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware, _ = _middleware(app)
    await _call(middleware)
    assert seen == [("req-500", "req-500")]
    assert REQUEST_ID.get() == "-"


# --- CORS ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(
        tmp_path_factory.mktemp("cors"), server={"cors": {"allowed_origins": ["https://ops.example.com"]}}
    )
    with serving(settings) as url:
        yield url


async def test_cors_headers_only_when_origins_are_configured(
    client: httpx.AsyncClient, cors_server: str
) -> None:
    origin = {"origin": "https://ops.example.com"}
    closed = await client.get("/metrics", headers=origin)
    assert "access-control-allow-origin" not in closed.headers
    assert (await client.options("/v1/dispatch", headers=origin)).status_code == 405
    async with httpx.AsyncClient(base_url=cors_server) as http:
        simple = await http.get("/metrics", headers=origin)
        preflight = await http.options(
            "/v1/dispatch", headers={**origin, "access-control-request-method": "POST"}
        )
        stranger = await http.get("/metrics", headers={"origin": "https://evil.example.com"})
    assert simple.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert preflight.headers["x-request-id"]
    assert "access-control-allow-origin" not in stranger.headers
