"""``POST /v1/dispatch/stream`` (stream.md §0, §3) over a real server, read with a real SSE client.

A second loopback server plays the remote webhook endpoint: each test scripts its own path (statuses per
request, and a request that is held until the test releases it), so the test can prove that frames
arrive while the dispatch is still running."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.errors import assert_error
from tests.helpers.server import ServerThread
from tidegate.api.app import create_app
from tidegate.errors import BackendUnavailable
from tidegate.services import Services

from .conftest import ACTION, make_settings

PATH = "/v1/dispatch/stream"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
HOLD_LIMIT = 10.0  # a held webhook request answers anyway after this many seconds (a failing test)
WAIT_LIMIT = 10.0

RULES = """\
rules:
  - name: block-spam
    priority: 1
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
  - name: deny-danger
    priority: 2
    condition: {field: action.action_type, eq: danger}
    action: {type: deny}
  - name: once
    priority: 3
    condition: {field: action.action_type, eq: welcome}
    action: {type: deduplicate, ttl_seconds: 300}
"""

ENVELOPE = ["type", "message", "timestamp", "action_id", "trace_id", "data"]
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_ids = itertools.count(1)

Event = tuple[str, dict[str, object]]


# -- the remote webhook endpoint ---------------------------------------------------------------------


@dataclass
class Hook:
    """One scripted path: ``statuses[i]`` answers request i+1 (the last repeats); request ``hold`` (1-based)
    waits for ``release`` before it is answered."""

    url: str
    statuses: list[int]
    hold: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    received: int = 0
    answered: int = 0


class WebhookTarget:
    def __init__(self) -> None:
        self.hooks: dict[str, Hook] = {}
        self.url = ""
        self.app = Starlette(routes=[Route("/hook/{name}", self._handle, methods=["POST"])])

    def add(self, name: str, statuses: list[int], hold: int | None = None) -> Hook:
        hook = Hook(f"{self.url}/hook/{name}", statuses, hold)
        self.hooks[name] = hook
        return hook

    async def _handle(self, request: Request) -> Response:
        hook = self.hooks[request.path_params["name"]]
        await request.body()
        hook.received += 1
        number = hook.received
        if number == hook.hold:
            await asyncio.to_thread(hook.release.wait, HOLD_LIMIT)
        status = hook.statuses[min(number, len(hook.statuses)) - 1]
        hook.answered += 1
        if status >= 300:
            return Response(status_code=status)
        return JSONResponse({"ok": True, "request": number}, status_code=status)


@dataclass
class Served:
    url: str
    services: Services


@pytest.fixture(scope="module")
def target() -> Iterator[WebhookTarget]:
    remote = WebhookTarget()
    server = ServerThread(remote.app)
    remote.url = server.start()
    try:
        yield remote
    finally:
        server.stop()


def _settings(directory: Path, **sections: object) -> object:
    rules = directory / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "10-stream.yaml").write_text(RULES)
    executor = {"max_retries": 3, "backoff_base_ms": 10, "backoff_max_ms": 50, "jitter": False}
    return make_settings(directory, executor=executor, **sections)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = _settings(tmp_path_factory.mktemp("dispatch-stream"), stream={"keep_alive_seconds": 1})
    app = create_app(settings)  # type: ignore[arg-type]
    server = ServerThread(app)
    url = server.start()
    try:
        yield Served(url, app.state.services)
    finally:
        server.stop()


@pytest.fixture
async def client(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=WAIT_LIMIT) as http:
        yield http


# -- helpers -----------------------------------------------------------------------------------------


def action(**changes: object) -> dict[str, object]:
    return {**ACTION, "provider": "log", "id": f"stream-{next(_ids)}", **changes}


def webhook_action(hook: Hook, **changes: object) -> dict[str, object]:
    return action(provider="webhook", metadata={"webhook_url": hook.url}, **changes)


async def read_stream(
    client: httpx.AsyncClient,
    body: dict[str, object],
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> list[Event]:
    """Every event of one dispatch stream, read to its end; checks the SSE head and that frames have no id."""
    events: list[Event] = []
    async with (
        asyncio.timeout(WAIT_LIMIT),
        aconnect_sse(client, "POST", PATH, json=body, params=params, headers=dict(headers or {})) as source,
    ):
        response = source.response
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        async for sse in source.aiter_sse():
            assert sse.id == ""
            event = (sse.event, sse.json())
            events.append(event)
            if on_event is not None:
                on_event(event)
    return events


def names(events: list[Event]) -> list[str]:
    return [name for name, _ in events]


def data(events: list[Event], name: str, index: int = 0) -> dict[str, object]:
    found = [payload["data"] for event, payload in events if event == name]
    value = found[index]
    assert isinstance(value, dict)
    return value


def done(events: list[Event]) -> dict[str, object]:
    assert events[-1][0] == "done"
    return events[-1][1]


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (bounded) for a condition another thread makes true."""
    async with asyncio.timeout(WAIT_LIMIT):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


def dispatched_events(served: Served, action_id: str) -> list[dict[str, object]]:
    """The ``/v1/stream`` events of one action in the server's event log."""
    return [
        event.to_json()
        for event in served.services.events.retained()
        if event.action_id == action_id and event.type.value == "action_dispatched"
    ]


# -- the sequence of events --------------------------------------------------------------------------


async def test_plain_execution_and_the_envelope(client: httpx.AsyncClient, served: Served) -> None:
    body = action()
    events = await read_stream(client, body)
    assert names(events) == ["dispatch_started", "attempt_started", "outcome", "done"]
    for name, payload in events[:-1]:
        assert list(payload) == ENVELOPE
        assert payload["type"] == name
        assert payload["action_id"] == body["id"]
        assert payload["trace_id"] is None
        assert _TIMESTAMP.fullmatch(str(payload["timestamp"]))
        assert isinstance(payload["message"], str)
    assert data(events, "dispatch_started") == {
        "namespace": "notifications",
        "tenant": "tenant-1",
        "provider": "log",
        "action_type": "send_email",
        "dry_run": False,
    }
    assert data(events, "attempt_started") == {"attempt": 1, "provider": "log"}
    assert data(events, "outcome") == done(events)
    plain = (await client.post("/v1/dispatch", json={**body, "id": "plain-twin"})).json()
    assert done(events) == {**plain, "action_id": body["id"]}


async def test_the_action_is_audited_and_published_like_a_normal_dispatch(
    client: httpx.AsyncClient, served: Served
) -> None:
    body = action()
    events = await read_stream(client, body)
    record = (await client.get(f"/v1/audit/{body['id']}")).json()
    assert (record["outcome"], record["verdict"], record["provider"]) == ("executed", "allow", "log")
    published = dispatched_events(served, str(body["id"]))
    assert len(published) == 1
    assert published[0]["id"] == record["id"]
    assert published[0]["outcome"] == {"Executed": {"status": "success", "body": None, "headers": {}}}
    assert done(events)["outcome"] == "executed"


async def test_trace_id_comes_from_a_valid_traceparent(client: httpx.AsyncClient) -> None:
    events = await read_stream(client, action(), headers={"traceparent": TRACEPARENT})
    assert {payload["trace_id"] for _, payload in events[:-1]} == {"0af7651916cd43dd8448eb211c80319c"}


@pytest.mark.parametrize(
    ("action_type", "rule", "verdict", "priority"),
    [("spam", "block-spam", "suppress", 1), ("danger", "deny-danger", "deny", 2)],
)
async def test_suppress_and_deny_match_a_rule_and_never_attempt(
    client: httpx.AsyncClient, action_type: str, rule: str, verdict: str, priority: int
) -> None:
    body = action(action_type=action_type)
    events = await read_stream(client, body)
    assert names(events) == ["dispatch_started", "rule_matched", "outcome", "done"]
    assert data(events, "rule_matched") == {"rule": rule, "verdict": verdict, "priority": priority}
    assert done(events) == {"action_id": body["id"], "outcome": "suppressed", "rule": rule}


async def test_deduplicate_attempts_once_then_answers_deduplicated(client: httpx.AsyncClient) -> None:
    first = action(action_type="welcome", dedup_key="welcome-bob")
    second = action(action_type="welcome", dedup_key="welcome-bob")
    events = await read_stream(client, first)
    assert names(events) == ["dispatch_started", "rule_matched", "attempt_started", "outcome", "done"]
    assert data(events, "rule_matched") == {"rule": "once", "verdict": "deduplicate", "priority": 3}
    events = await read_stream(client, second)
    assert names(events) == ["dispatch_started", "rule_matched", "outcome", "done"]
    assert done(events) == {
        "action_id": second["id"],
        "outcome": "deduplicated",
        "dedup_key": "welcome-bob",
        "original_action_id": first["id"],
    }


async def test_dry_run_evaluates_without_effects(client: httpx.AsyncClient, served: Served) -> None:
    body = action(action_type="spam")
    events = await read_stream(client, body, params={"dry_run": "true"})
    assert names(events) == ["dispatch_started", "rule_matched", "outcome", "done"]
    assert data(events, "dispatch_started")["dry_run"] is True
    assert done(events) == {
        "action_id": body["id"],
        "outcome": "dry_run",
        "verdict": "suppress",
        "matched_rule": "block-spam",
        "would_be_provider": "log",
    }
    assert_error(await client.get(f"/v1/audit/{body['id']}"), 404, "not_found")
    assert dispatched_events(served, str(body["id"])) == []


async def test_follow_without_a_chain_changes_nothing(client: httpx.AsyncClient) -> None:
    events = await read_stream(client, action(), params={"follow": "true", "timeout": "2.5"})
    assert names(events) == ["dispatch_started", "attempt_started", "outcome", "done"]


# -- a slow provider with retries ---------------------------------------------------------------------


async def test_each_attempt_arrives_as_it_happens(
    client: httpx.AsyncClient, served: Served, target: WebhookTarget
) -> None:
    """The third webhook request is held until the client has seen both failures and the third start:
    had the frames waited for the outcome, the stream would stall and the test time out."""
    hook = target.add("flaky", [500, 500, 200], hold=3)
    answered_when_seen: dict[str, int] = {}

    def watch(event: Event) -> None:
        name, payload = event
        attempt = payload["data"]["attempt"] if name.startswith("attempt_") else None  # type: ignore[index]
        answered_when_seen[f"{name}:{attempt}"] = hook.answered
        if name == "attempt_started" and attempt == 3:
            hook.release.set()

    body = webhook_action(hook)
    events = await read_stream(client, body, on_event=watch)
    assert names(events) == [
        "dispatch_started",
        "attempt_started",
        "attempt_failed",
        "attempt_started",
        "attempt_failed",
        "attempt_started",
        "outcome",
        "done",
    ]
    assert answered_when_seen["attempt_failed:1"] < 3
    assert answered_when_seen["attempt_started:3"] == 2  # attempt 3 was still unanswered
    error = {"code": "execution_failed", "message": f"HTTP 500 from {hook.url}", "retryable": True}
    assert data(events, "attempt_failed", 0) == {
        "attempt": 1,
        "provider": "webhook",
        "error": error,
        "retry_in_ms": 10,
    }
    assert data(events, "attempt_failed", 1)["retry_in_ms"] == 20
    assert [data(events, "attempt_started", i)["attempt"] for i in range(3)] == [1, 2, 3]
    result = done(events)
    assert result == data(events, "outcome")
    assert result["outcome"] == "executed"
    assert result["response"]["body"] == {"ok": True, "request": 3}  # type: ignore[index]

    twin = target.add("twin", [200])
    plain = (await client.post("/v1/dispatch", json=webhook_action(twin))).json()
    assert list(result) == list(plain)
    assert list(result["response"]) == list(plain["response"])  # type: ignore[call-overload]

    record = (await client.get(f"/v1/audit/{body['id']}")).json()
    assert record["outcome"] == "executed"
    assert len(dispatched_events(served, str(body["id"]))) == 1


async def test_frames_head_and_keep_alive_bytes(client: httpx.AsyncClient, target: WebhookTarget) -> None:
    """A provider call longer than the 1 s keep-alive interval: `: ping` comes while it runs."""
    hook = target.add("slow", [200], hold=1)
    raw = b""
    async with (
        asyncio.timeout(WAIT_LIMIT + 5),
        client.stream("POST", PATH, json=webhook_action(hook)) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["x-request-id"]
        assert "content-length" not in response.headers
        async for chunk in response.aiter_raw():
            raw += chunk
            if b": ping\n\n" in raw:
                hook.release.set()
    assert raw.endswith(b"\n\n")
    frames = raw[:-2].split(b"\n\n")
    layout = re.compile(rb"event: ([a-z_]+)\ndata: (\{[^\n]*\})")
    seen = []
    for frame in frames:
        if frame == b": ping":
            seen.append("ping")
            continue
        match = layout.fullmatch(frame)
        assert match, frame
        seen.append(match[1].decode())
    assert "ping" in seen
    assert [s for s in seen if s != "ping"] == ["dispatch_started", "attempt_started", "outcome", "done"]
    assert seen.index("attempt_started") < seen.index("ping") < seen.index("outcome")


# -- failures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"json": {k: v for k, v in ACTION.items() if k != "namespace"}}, 422, "validation_error"),
        ({"content": b"{", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"content": b"{}", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"json": {**ACTION, "provider": "sms"}}, 404, "provider_not_found"),
        ({"json": ACTION, "params": {"dry_run": "maybe"}}, 422, "validation_error"),
        ({"json": ACTION, "params": {"follow": "2"}}, 422, "validation_error"),
        ({"json": ACTION, "params": {"timeout": "0"}}, 422, "validation_error"),
        ({"json": ACTION, "params": {"timeout": "3601"}}, 422, "validation_error"),
        ({"json": ACTION, "params": {"timeout": "nan"}}, 422, "validation_error"),
        ({"json": ACTION, "params": {"timeout": "soon"}}, 422, "validation_error"),
    ],
)
async def test_errors_before_the_stream_are_plain_json(
    client: httpx.AsyncClient, request_kwargs: dict[str, object], status: int, code: str
) -> None:
    response = await client.post(PATH, **request_kwargs)  # type: ignore[arg-type]
    body = assert_error(response, status, code)
    if "params" in request_kwargs:
        name = next(iter(request_kwargs["params"]))  # type: ignore[call-overload]
        assert body["detail"][0]["loc"] == ["query", name]  # type: ignore[index]


async def test_unknown_provider_leaves_no_trace(client: httpx.AsyncClient, served: Served) -> None:
    body = action(provider="sms")
    assert_error(await client.post(PATH, json=body), 404, "provider_not_found", "Provider not found: sms")
    assert_error(await client.get(f"/v1/audit/{body['id']}"), 404, "not_found")


async def test_streaming_disabled_is_503_before_anything(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, stream={"enabled": False}))  # type: ignore[arg-type]
    server = ServerThread(app)
    url = await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post(PATH, json=ACTION)
        assert_error(response, 503, "streaming_disabled")
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.parametrize(
    ("raised", "error"),
    [
        (
            BackendUnavailable("state store unreachable"),
            {"code": "backend_unavailable", "message": "state store unreachable", "retryable": True},
        ),
        (
            RuntimeError("secret-detail"),
            {"code": "internal_error", "message": "internal error", "retryable": False},
        ),
    ],
)
async def test_a_failure_after_the_start_ends_with_error_then_done(
    client: httpx.AsyncClient,
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    error: dict[str, object],
) -> None:
    """The state store fails at the dedup claim, after the decision (and so after the 200)."""

    async def fail(*args: object, **kwargs: object) -> bool:
        raise raised

    monkeypatch.setattr(served.services.store, "put_if_absent", fail)
    body = action(action_type="welcome")
    events = await read_stream(client, body)
    assert names(events) == ["dispatch_started", "rule_matched", "error", "done"]
    assert data(events, "error") == error
    assert list(events[2][1]) == ENVELOPE
    assert done(events) == {"action_id": body["id"], "outcome": None, "error": error}
    assert "secret-detail" not in str(events)


async def test_a_client_that_leaves_does_not_cancel_the_dispatch(
    client: httpx.AsyncClient,
    served: Served,
    target: WebhookTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tidegate.api.streamed_dispatch")
    hook = target.add("leave", [200], hold=1)
    body = webhook_action(hook)
    async with (
        asyncio.timeout(WAIT_LIMIT),
        aconnect_sse(client, "POST", PATH, json=body) as source,
    ):
        async for sse in source.aiter_sse():
            if sse.event == "attempt_started":
                break  # leave while the provider call is held: closing the response drops the connection

    def server_saw_the_client_leave() -> bool:
        return any("client left" in record.getMessage() for record in caplog.records)

    await eventually(server_saw_the_client_leave)
    hook.release.set()
    await eventually(lambda: len(dispatched_events(served, str(body["id"]))) == 1)
    record = (await client.get(f"/v1/audit/{body['id']}")).json()
    assert record["outcome"] == "executed"
    assert hook.answered == 1
