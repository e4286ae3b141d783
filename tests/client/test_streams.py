"""The SDK's SSE iterators against a real server: typed events and ``Lagged`` items, resuming with
``Last-Event-ID`` after a real connection cut (through a TCP proxy), giving up when told, and the
dispatch stream."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from tests.client._proxy import Proxy
from tests.client._wait import eventually
from tests.client.conftest import action
from tidegate.client import (
    AsyncClient,
    Backoff,
    BadRequestError,
    ConnectionChange,
    DispatchDone,
    DispatchStreamEvent,
    EventType,
    Lagged,
    NotFoundError,
    StreamEvent,
    StreamItem,
    TransportError,
    event_outcome,
)
from tidegate.model.outcome import Executed

FAST = Backoff(initial=0.05, maximum=0.2)


async def _next(items: AsyncIterator[StreamItem], within: float = 5.0) -> StreamItem:
    return await asyncio.wait_for(anext(items), within)


async def _connected(changes: list[ConnectionChange], count: int) -> None:
    await eventually(lambda: sum(c.state == "connected" for c in changes) >= count)


async def test_stream_yields_the_servers_event_type(tg: AsyncClient, tenant: str) -> None:
    changes: list[ConnectionChange] = []
    items = tg.stream(tenant=tenant, on_connection=changes.append)
    pending = asyncio.ensure_future(_next(items))
    await _connected(changes, 1)
    result = await tg.dispatch(action(tenant))
    event = await pending
    assert isinstance(event, StreamEvent) and event.type is EventType.ACTION_DISPATCHED
    assert event.action_id == result.action_id and event.tenant == tenant
    assert event.fields["provider"] == "log" and event_outcome(event) == "executed"
    assert event.fields["outcome"] == {"Executed": {"status": "success", "body": None, "headers": {}}}
    assert changes[0].state == "connected" and changes[0].last_event_id is None
    await items.aclose()  # type: ignore[attr-defined]


async def test_filters_reach_the_server(tg: AsyncClient, tenant: str) -> None:
    changes: list[ConnectionChange] = []
    items = tg.stream(tenant=tenant, outcome="suppressed", on_connection=changes.append)
    pending = asyncio.ensure_future(_next(items))
    await _connected(changes, 1)
    await tg.dispatch(action(tenant))
    suppressed = await tg.dispatch(action(tenant, "spam"))
    event = await pending
    assert isinstance(event, StreamEvent) and event.action_id == suppressed.action_id
    await items.aclose()  # type: ignore[attr-defined]


async def test_an_unknown_resume_position_is_a_typed_lagged_item(tg: AsyncClient, tenant: str) -> None:
    earlier = await tg.dispatch(action(tenant))
    items = tg.stream(tenant=tenant, last_event_id="not-a-retained-id")
    first = await _next(items)
    assert first == Lagged(skipped=None, reason="replay_window_exceeded")
    replayed = await _next(items)
    assert isinstance(replayed, StreamEvent) and replayed.action_id == earlier.action_id
    await items.aclose()  # type: ignore[attr-defined]


async def test_a_cut_connection_resumes_after_the_last_event(
    server: str, tg: AsyncClient, tenant: str
) -> None:
    changes: list[ConnectionChange] = []
    with Proxy(server) as proxy:
        async with AsyncClient(proxy.url, backoff=FAST) as via_proxy:
            items = via_proxy.stream(tenant=tenant, on_connection=changes.append)
            pending = asyncio.ensure_future(_next(items))
            await _connected(changes, 1)
            first = await tg.dispatch(action(tenant))
            event = await pending
            assert isinstance(event, StreamEvent) and event.action_id == first.action_id

            proxy.cut()
            missed = [await tg.dispatch(action(tenant)) for _ in range(3)]  # while the client is away
            received = [await _next(items) for _ in missed]
            assert [e.action_id for e in received if isinstance(e, StreamEvent)] == [
                m.action_id for m in missed
            ]
            await items.aclose()  # type: ignore[attr-defined]
    states = [c.state for c in changes]
    assert states[:3] == ["connected", "disconnected", "connected"], states
    lost = changes[1]
    assert isinstance(lost.error, TransportError) and lost.retry_in is not None and lost.retry_in <= 0.2
    assert changes[2].last_event_id == event.id and proxy.accepted >= 2


async def test_errors_retrying_cannot_fix_are_raised(tg: AsyncClient) -> None:
    with pytest.raises(BadRequestError) as invalid:
        await _next(tg.stream(action_id="", event_type="lagged"))
    assert invalid.value.code == "invalid_filter" and not invalid.value.retryable


async def test_max_retries_bounds_failures_in_a_row() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    changes: list[ConnectionChange] = []
    async with AsyncClient(f"http://127.0.0.1:{port}", backoff=FAST) as client:
        with pytest.raises(TransportError):
            await _next(client.stream(max_retries=2, on_connection=changes.append))
    assert [(c.state, c.attempt) for c in changes] == [("disconnected", 1), ("disconnected", 2)]
    assert all(c.retry_in is not None and 0.0 < c.retry_in <= 0.2 for c in changes)


async def test_dispatch_stream_events_then_done(tg: AsyncClient, tenant: str) -> None:
    items = [item async for item in tg.dispatch_stream(action(tenant))]
    names = [i.type for i in items if isinstance(i, DispatchStreamEvent)]
    assert names == ["dispatch_started", "attempt_started", "outcome"]
    assert items[0].data["tenant"] == tenant  # type: ignore[union-attr]
    done = items[-1]
    assert isinstance(done, DispatchDone) and done.error is None and done.result is not None
    assert isinstance(done.result.outcome, Executed) and done.action_id == done.result.action_id

    dry = [item async for item in tg.dispatch_stream(action(tenant, "spam"), dry_run=True)]
    assert [i.type for i in dry if isinstance(i, DispatchStreamEvent)] == [
        "dispatch_started",
        "rule_matched",
        "outcome",
    ]
    assert isinstance(dry[-1], DispatchDone) and dry[-1].result is not None
    assert dry[-1].result.category == "dry_run"

    with pytest.raises(NotFoundError) as refused:
        [item async for item in tg.dispatch_stream({**action(tenant), "provider": "nope"})]
    assert refused.value.code == "provider_not_found"


async def test_dispatch_stream_follows_a_chain(tg: AsyncClient, tenant: str) -> None:
    items = [item async for item in tg.dispatch_stream(action(tenant, "pipeline"), follow=True, timeout=30)]
    kinds = [type(i).__name__ for i in items]
    assert kinds[-1] == "DispatchDone" and "HistoryEntry" in kinds
    entries = [i for i in items if type(i).__name__ == "HistoryEntry"]
    assert entries[0].type == "initiated" and entries[-1].type == "completed"  # type: ignore[union-attr]
