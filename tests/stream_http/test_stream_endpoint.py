"""``GET /v1/stream`` over a real uvicorn with httpx-sse: head, frames, filters, isolation, replay,
keep-alive, the connection limit and disconnect cleanup (stream.md §0-§1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import orjson
import pytest

from tests.stream_http._client import subscribe
from tests.stream_http._server import StreamServer, make, one_of_each
from tidegate.errors import BackendUnavailable
from tidegate.model.event import EventType, StreamEvent

FAILED = {"Failed": {"code": "connection", "message": "refused", "retryable": True, "attempts": 1}}
ALL_STATUSES = {"200", "400", "401", "403", "429", "500", "503"}


async def read_frame(chunks: AsyncIterator[bytes], buffer: bytearray, within: float = 5.0) -> bytes:
    """The next whole frame (up to and including its blank line) of a raw byte stream."""
    async with asyncio.timeout(within):
        while b"\n\n" not in buffer:
            buffer.extend(await anext(chunks))
    end = buffer.index(b"\n\n") + 2
    frame = bytes(buffer[:end])
    del buffer[:end]
    return frame


async def test_head_and_dispatch_frame_are_byte_exact(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    async with client.stream("GET", "/v1/stream", params={"namespace": "exact"}) as response:
        assert response.status_code == 200
        headers = response.headers
        assert headers["content-type"] == "text/event-stream"
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        assert headers["x-request-id"]
        assert "content-length" not in headers
        assert headers["transfer-encoding"] == "chunked"
        action = {
            "namespace": "exact",
            "tenant": "t-1",
            "provider": "log",
            "action_type": "send",
            "payload": {},
        }
        dispatched = await client.post("/v1/dispatch", json=action)
        assert dispatched.status_code == 200
        chunks, buffer = response.aiter_raw(), bytearray()
        frame = await read_frame(chunks, buffer)
        while frame == b": ping\n\n":
            frame = await read_frame(chunks, buffer)
    event_line, id_line, data_line, blank = frame.split(b"\n", 3)
    assert event_line == b"event: action_dispatched" and blank == b"\n"
    data = orjson.loads(data_line.removeprefix(b"data: "))
    assert id_line == b"id: " + data["id"].encode()
    assert data_line == b"data: " + orjson.dumps(data)  # compact, one line
    assert list(data) == [
        "id", "timestamp", "type", "outcome", "provider", "namespace", "tenant", "action_type", "action_id",
    ]  # fmt: skip
    assert data["outcome"] == {"Executed": {"status": "success", "body": None, "headers": {}}}  # sanitized
    assert data["action_id"] == dispatched.json()["action_id"]
    record = await client.get(f"/v1/audit/{data['action_id']}")
    assert record.json()["id"] == data["id"]  # the event id is the audit record id (api.md §5)


async def test_filters_are_anded_and_namespaces_are_isolated(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    def dispatched(namespace: str, action_type: str, outcome: object = None) -> StreamEvent:
        return make(namespace=namespace, action_type=action_type, outcome=outcome)

    e1 = dispatched("f-alerts", "send_email")
    e2 = dispatched("f-alerts", "send_email", FAILED)
    e3 = dispatched("f-billing", "send_email", FAILED)
    e4 = dispatched("f-alerts", "page", FAILED)
    e5 = make(EventType.GROUP_FLUSHED, namespace="f-alerts")
    e6 = make(EventType.GROUP_FLUSHED, namespace="f-billing")
    e7 = make(EventType.TIMEOUT, namespace="f-alerts", action_type="send_email")
    # Fences: each subscriber's last expected event comes after every event it must not receive.
    fa = dispatched("f-alerts", "send_email", FAILED)
    fg = make(EventType.GROUP_FLUSHED, namespace="f-alerts")
    fb = make(EventType.GROUP_FLUSHED, namespace="f-billing")
    published = [e1, e2, e3, e4, e5, e6, e7, fa, fg, fb]
    cases: list[tuple[dict[str, str], list[StreamEvent]]] = [
        ({"namespace": "f-alerts"}, [e1, e2, e4, e5, e7, fa, fg]),
        ({"namespace": "f-billing"}, [e3, e6, fb]),
        ({"action_type": "send_email"}, [e1, e2, e3, e7, fa]),
        ({"outcome": "failed"}, [e2, e3, e4, fa]),
        ({"event_type": "group_flushed"}, [e5, e6, fg, fb]),
        ({"namespace": "f-alerts", "outcome": "failed"}, [e2, e4, fa]),
        ({"namespace": "f-alerts", "action_type": "send_email", "outcome": "failed"}, [e2, fa]),
        ({"namespace": "f-billing", "event_type": "timeout"}, []),
    ]
    async with AsyncExitStack() as stack:
        readers = [await stack.enter_async_context(subscribe(client, params)) for params, _ in cases]
        await server.publish(published)
        for reader, (params, expected) in zip(readers, cases, strict=True):
            ids = await reader.ids(len(expected))
            assert ids == [event.id for event in expected], params


@pytest.mark.parametrize(
    "query",
    [
        "outcome=bogus",
        "outcome=Executed",
        "event_type=lagged",
        "event_type=nope",
        "namespace=two%20words",
        "action_type=" + "a" * 257,
        "tenant=a/b",
        "namespace=a&namespace=b",
        "namespace=a&namespace=",
    ],
)
async def test_bad_filters_get_400_invalid_filter(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/v1/stream?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "invalid_filter"


async def test_empty_filters_and_unknown_parameters_are_ignored(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    async with subscribe(client, {"namespace": "", "outcome": "", "colour": "blue"}) as reader:
        event = (await server.publish([make(namespace="anything")]))[0]
        assert await reader.ids(1) == [event.id]


async def test_tenant_filter_needs_a_covering_grant(server: StreamServer, client: httpx.AsyncClient) -> None:
    scoped = {"x-test-grants": "acme"}
    forbidden = await client.get("/v1/stream", params={"tenant": "beta"}, headers=scoped)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"
    # 403 comes before 400 (stream.md §1.1)
    both = await client.get("/v1/stream?tenant=beta&outcome=bogus", headers=scoped)
    assert both.status_code == 403
    async with subscribe(client, {"tenant": "acme.eu"}, scoped) as reader:  # hierarchical grant
        event = (await server.publish([make(tenant="acme.eu")]))[0]
        assert await reader.ids(1) == [event.id]


async def test_scoped_caller_sees_only_covered_tenants_live_and_on_replay(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    scoped = {"x-test-grants": "iso-a"}
    async with subscribe(client, None, scoped) as reader:
        mark = (await server.publish([make(tenant="iso-a")]))[0]
        assert await reader.ids(1) == [mark.id]
    hidden = make(tenant="iso-b")
    visible = make(tenant="iso-a")
    await server.publish([hidden, visible])
    async with subscribe(client, None, {**scoped, "last-event-id": mark.id}) as reader:
        _, live_visible = await server.publish([make(tenant="iso-b"), make(tenant="iso-a")])
        assert await reader.ids(2) == [visible.id, live_visible.id]


@pytest.mark.parametrize("via", ["header", "query"])
async def test_reconnect_with_last_event_id_has_no_gap_and_no_duplicate(
    server: StreamServer, client: httpx.AsyncClient, via: str
) -> None:
    namespace = f"replay-{via}"
    async with subscribe(client, {"namespace": namespace}) as reader:
        before = await server.publish([make(namespace=namespace) for _ in range(3)])
        received = await reader.ids(3)
    assert received == [event.id for event in before]
    missed = await server.publish(one_of_each(namespace=namespace))  # every type, while disconnected
    await server.publish([make(namespace="elsewhere")])
    params = {"namespace": namespace}
    headers = {}
    if via == "header":
        headers["last-event-id"] = received[-1]
    else:
        params["last_event_id"] = received[-1]
    async with subscribe(client, params, headers) as reader:
        live = await server.publish([make(namespace=namespace) for _ in range(3)])
        events = await reader.take(len(missed) + len(live))
        # Nothing more is pending: the next event is a new one, not a repeat.
        fence = (await server.publish([make(namespace=namespace)]))[0]
        assert await reader.ids(1) == [fence.id]
    assert [sse.id for sse in events] == [event.id for event in [*missed, *live]]
    assert [sse.event for sse in events[: len(missed)]] == [kind.value for kind in EventType]


async def test_replay_applies_filters(server: StreamServer, client: httpx.AsyncClient) -> None:
    start = (await server.publish([make(namespace="rf")]))[0]
    kept = await server.publish(
        [make(namespace="rf", outcome=FAILED), make(namespace="rf-other", outcome=FAILED)]
    )
    params = {"namespace": "rf", "outcome": "failed"}
    async with subscribe(client, params, {"last-event-id": start.id}) as reader:
        live = (await server.publish([make(namespace="rf", outcome=FAILED)]))[0]
        assert await reader.ids(2) == [kept[0].id, live.id]


@pytest.mark.parametrize("last_event_id", ["evicted", "019c3882-0000-7000-8000-000000000000", "not-a-uuid"])
async def test_id_outside_the_window_gets_the_window_exceeded_frame_first(
    server: StreamServer, client: httpx.AsyncClient, last_event_id: str
) -> None:
    namespace = f"window-{last_event_id[:8]}"
    first = (await server.publish([make(namespace=namespace)]))[0]
    if last_event_id == "evicted":
        last_event_id = first.id
    filler = await server.publish([make(namespace=f"{namespace}-filler") for _ in range(48)])
    retained = await server.publish([make(namespace=namespace), make(namespace=namespace)])
    assert server.services.events.size == 50  # ``first`` left the window
    headers = {"last-event-id": last_event_id}
    async with subscribe(client, {"namespace": namespace}, headers) as reader:
        live = (await server.publish([make(namespace=namespace)]))[0]
        gap, *events = await reader.take(4)
    assert gap.event == "lagged"
    assert gap.data == '{"skipped":null,"reason":"replay_window_exceeded"}'
    assert [sse.id for sse in events] == [retained[0].id, retained[1].id, live.id]
    assert filler  # filtered out of the replay by ``namespace``


async def test_idle_stream_gets_ping_comments(server: StreamServer, client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/v1/stream", params={"namespace": "quiet"}) as response:
        chunks, buffer = response.aiter_raw(), bytearray()
        assert await read_frame(chunks, buffer, within=3) == b": ping\n\n"  # keep-alive is 1 s here
        assert await read_frame(chunks, buffer, within=3) == b": ping\n\n"


async def test_eleventh_connection_of_a_tenant_gets_429(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    connections = server.services.connections
    async with AsyncExitStack() as stack:
        for _ in range(9):
            await stack.enter_async_context(subscribe(client, {"tenant": "crowded"}))
        async with subscribe(client, {"tenant": "crowded"}):
            response = await client.get("/v1/stream", params={"tenant": "crowded"})
            assert response.status_code == 429
            assert response.headers["retry-after"] == "5"
            body = response.json()
            assert body["code"] == "too_many_connections" and body["retryable"] is True
            assert connections.held("tenant:crowded") == 10
            async with subscribe(client, {"tenant": "roomy"}):  # another bucket is not affected
                pass
        # The tenth client left: its slot is free again.
        await server.wait_for(lambda: connections.held("tenant:crowded") == 9)
        async with subscribe(client, {"tenant": "crowded"}):
            assert connections.held("tenant:crowded") == 10


async def test_disconnect_releases_the_subscriber_and_the_slot(
    server: StreamServer, client: httpx.AsyncClient
) -> None:
    services = server.services
    async with subscribe(client, {"tenant": "leaving"}):
        assert services.broadcaster.subscriber_count == 1
        assert services.connections.held("tenant:leaving") == 1
        gauge = await client.get("/metrics/prometheus")
        assert "tidegate_stream_subscribers 1.0" in gauge.text
    # No event flows: the server must notice the closed connection by itself, within 2 s (§0.5).
    await server.wait_for(server.idle, within=2.0)
    gauge = await client.get("/metrics/prometheus")
    assert "tidegate_stream_subscribers 0.0" in gauge.text


async def test_unreachable_event_log_is_503_and_frees_the_slot(
    server: StreamServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> None:
        raise BackendUnavailable("event log down")

    monkeypatch.setattr(server.services.events, "ping", unreachable)
    response = await client.get("/v1/stream", params={"tenant": "probe"})
    assert response.status_code == 503 and response.json()["code"] == "backend_unavailable"
    assert server.idle()


async def test_openapi_documents_the_stream(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/v1/stream"]["get"]
    assert set(operation["responses"]) == ALL_STATUSES
    assert set(operation["responses"]["200"]["content"]) == {"text/event-stream"}
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"namespace", "action_type", "outcome", "event_type", "tenant", "Last-Event-ID"} <= names
