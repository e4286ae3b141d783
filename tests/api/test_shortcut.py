"""``POST /v1/dispatch`` served in front of FastAPI's routing (``api/shortcut.py``) answers exactly as the
routed endpoint does, and keeps what the middleware gives every request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from tests.helpers.server import ServerThread
from tidegate.api.app import TidegateApp, create_app
from tidegate.api.routers import dispatch
from tidegate.api.shortcut import DispatchShortcut, build_shortcut
from tidegate.clock import ManualClock

from .conftest import ACTION, make_settings

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
JSON = {"content-type": "application/json"}


def _serve(directory: Path, *, routed: bool) -> Iterator[tuple[str, TidegateApp]]:
    app = create_app(make_settings(directory), clock=ManualClock())
    assert isinstance(app, TidegateApp)
    if routed:  # leave the shortcut unbuilt and off: FastAPI's routing serves the route
        app._shortcut_built = True
    server = ServerThread(app)
    url = server.start()
    try:
        yield url, app
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shortcut_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TidegateApp]]:
    yield from _serve(tmp_path_factory.mktemp("shortcut"), routed=False)


@pytest.fixture(scope="module")
def routed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TidegateApp]]:
    yield from _serve(tmp_path_factory.mktemp("routed"), routed=True)


def _body(**changes: object) -> bytes:
    return orjson.dumps({**ACTION, **changes})


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


#: (case, query, extra headers, body, expected status)
CASES: list[tuple[str, str, dict[str, str], bytes, int]] = [
    ("executed", "", JSON, _body(id="same-1"), 200),
    ("suppressed by a rule", "", JSON, _body(id="same-2", action_type="spam"), 200),
    ("dry run", "?dry_run=YES", JSON, _body(id="same-3"), 200),
    ("traced", "", {**JSON, "traceparent": TRACEPARENT, "tracestate": "v=1"}, _body(id="same-4"), 200),
    ("charset parameter", "", {"content-type": "application/json; charset=utf-8"}, _body(id="same-5"), 200),
    ("bad dry_run word", "?dry_run=t", JSON, _body(), 422),
    ("no content type", "", {}, _body(), 415),
    ("text content type", "", {"content-type": "text/plain"}, _body(), 415),
    ("invalid json", "", JSON, b'{"namespace":', 400),
    ("too deep", "", JSON, _nested(80), 422),
    ("schema error", "", JSON, _body(tenant="bad tenant!"), 422),
    ("unknown provider", "", JSON, _body(provider="sms"), 404),
    ("too large", "", JSON, b" " * (1024 * 1024 + 1), 413),
]


@pytest.mark.parametrize(("case", "query", "headers", "body", "status"), CASES, ids=[c[0] for c in CASES])
def test_same_answer_as_the_routed_endpoint(
    shortcut_server: tuple[str, TidegateApp],
    routed_server: tuple[str, TidegateApp],
    case: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    answers = []
    for url, _ in (shortcut_server, routed_server):
        response = httpx.post(
            f"{url}/v1/dispatch{query}",
            content=body,
            headers={**headers, "x-request-id": f"req-{case}".replace(" ", "-")},
        )
        kept = [(name, value) for name, value in response.headers.multi_items() if name not in ("date",)]
        answers.append((response.status_code, kept, response.content))
    assert answers[0][0] == status, answers[0]
    assert answers[0] == answers[1]


def test_the_shortcut_serves_dispatch_without_the_routed_stack(
    shortcut_server: tuple[str, TidegateApp],
) -> None:
    url, app = shortcut_server
    assert httpx.post(f"{url}/v1/dispatch", json=ACTION).status_code == 200
    assert isinstance(app._shortcut, DispatchShortcut)
    routed_stack = app.middleware_stack

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app.middleware_stack = broken
    try:
        assert httpx.post(f"{url}/v1/dispatch", json=ACTION).status_code == 200
        assert httpx.get(f"{url}/metrics").status_code == 418
        assert httpx.get(f"{url}/v1/dispatch").status_code == 418  # other methods take the routed path
    finally:
        app.middleware_stack = routed_stack


def test_the_http_metric_keeps_the_route_label(shortcut_server: tuple[str, TidegateApp]) -> None:
    url, _ = shortcut_server
    series = 'tidegate_http_requests_total{method="POST",route="/v1/dispatch",status="200"}'

    def count() -> float:
        for line in httpx.get(f"{url}/metrics/prometheus").text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    assert httpx.post(f"{url}/v1/dispatch", json=ACTION).status_code == 200
    assert count() == before + 1


def test_cors_headers_on_the_shortcut(tmp_path: Path) -> None:
    origin = "https://ops.example.com"
    settings = make_settings(tmp_path, server={"cors": {"allowed_origins": [origin]}})
    server = ServerThread(create_app(settings))
    url = server.start()
    try:
        response = httpx.post(f"{url}/v1/dispatch", json=ACTION, headers={"origin": origin})
    finally:
        server.stop()
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "X-Request-ID" in response.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    ("scope", "taken"),
    [
        ({"type": "http", "path": "/v1/dispatch", "method": "POST", "root_path": ""}, True),
        ({"type": "http", "path": "/v1/dispatch", "method": "POST"}, True),
        ({"type": "http", "path": "/v1/dispatch", "method": "GET", "root_path": ""}, False),
        ({"type": "http", "path": "/v1/dispatch", "method": "OPTIONS", "root_path": ""}, False),
        ({"type": "http", "path": "/v1/dispatch/", "method": "POST", "root_path": ""}, False),
        ({"type": "http", "path": "/v1/dispatch/batch", "method": "POST", "root_path": ""}, False),
        ({"type": "http", "path": "/api/v1/dispatch", "method": "POST", "root_path": "/api"}, False),
        ({"type": "websocket", "path": "/v1/dispatch", "method": "POST"}, False),
    ],
)
def test_which_requests_the_shortcut_takes(scope: Scope, taken: bool) -> None:
    assert DispatchShortcut.takes(scope) is taken


def test_no_shortcut_under_a_root_path() -> None:
    app = FastAPI()
    assert build_shortcut(app, dispatch.router.routes) is not None
    app.root_path = "/api"
    assert build_shortcut(app, dispatch.router.routes) is None


def test_no_shortcut_while_fastapi_traces_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    app = FastAPI()
    telemetry = getattr(app, "_native_telemetry", None)
    if telemetry is None:
        pytest.skip("this FastAPI has no native telemetry")
    monkeypatch.setattr(telemetry, "enabled", lambda: True)
    assert build_shortcut(app, dispatch.router.routes) is None
