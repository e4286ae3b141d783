"""Reading ``/v1/stream`` with httpx-sse: one decoder per connection, events taken a few at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
import orjson
from httpx_sse import ServerSentEvent, aconnect_sse

__all__ = ["Reader", "subscribe"]


class Reader:
    def __init__(self, response: httpx.Response, events: AsyncGenerator[ServerSentEvent, None]) -> None:
        self.response = response
        self._events = events

    async def take(self, count: int, within: float = 5.0) -> list[ServerSentEvent]:
        """The next ``count`` frames with an ``event`` line (httpx-sse drops comments)."""
        taken: list[ServerSentEvent] = []
        async with asyncio.timeout(within):
            while len(taken) < count:
                taken.append(await anext(self._events))
        return taken

    async def ids(self, count: int, within: float = 5.0) -> list[str]:
        """Ids of the next ``count`` events, checking each frame's ``id`` equals its data's ``id``."""
        ids = []
        for sse in await self.take(count, within):
            data = orjson.loads(sse.data)
            assert sse.event == data["type"] and sse.id == data["id"], sse
            ids.append(sse.id)
        return ids


@asynccontextmanager
async def subscribe(
    client: httpx.AsyncClient,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Reader]:
    """An open stream that answered 200; closed (the client disconnects) when the block ends."""
    headers = dict(headers or {})
    async with aconnect_sse(client, "GET", "/v1/stream", params=params, headers=headers) as source:
        assert source.response.status_code == 200, source.response.status_code
        events = source.aiter_sse()
        try:
            yield Reader(source.response, events)
        finally:
            await events.aclose()
