"""``GET /v1/stream`` under non-default settings: streaming switched off, and a per-tenant limit of 1
(so the shared ``anonymous`` bucket holds 10 connections)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from tests.stream_http._client import subscribe
from tests.stream_http.conftest import stream_server


async def test_streaming_disabled_is_503_before_filter_checks(tmp_path: Path) -> None:
    with stream_server(tmp_path, stream={"enabled": False}) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/v1/stream?outcome=bogus")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "streaming_disabled" and body["retryable"] is False


async def test_limit_applies_per_bucket_and_the_anonymous_bucket_holds_ten(tmp_path: Path) -> None:
    with stream_server(tmp_path, server={"max_sse_connections_per_tenant": 1}) as server:
        connections = server.services.connections
        async with httpx.AsyncClient(base_url=server.url) as client, AsyncExitStack() as stack:
            await stack.enter_async_context(subscribe(client, {"tenant": "solo"}))
            second = await client.get("/v1/stream", params={"tenant": "solo"})
            assert second.status_code == 429 and second.json()["code"] == "too_many_connections"
            for _ in range(10):
                await stack.enter_async_context(subscribe(client))
            assert connections.held("anonymous") == 10
            eleventh = await client.get("/v1/stream")
            assert eleventh.status_code == 429 and eleventh.headers["retry-after"] == "5"
        await server.wait_for(server.idle)
