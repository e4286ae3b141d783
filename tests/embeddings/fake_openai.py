"""A local stand-in for an OpenAI-compatible ``/v1/embeddings`` endpoint (the outside world), served by a
real uvicorn on loopback. Tests set ``mode`` and read ``requests``."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers.server import ServerThread

__all__ = ["FakeEndpoint", "fake_vector", "serving_fake"]

DIMENSIONS = 8


def fake_vector(text: str) -> list[float]:
    """A deterministic vector per text: equal texts are identical (similarity 1.0)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [byte / 255 - 0.5 for byte in digest[:DIMENSIONS]]


@dataclass
class FakeEndpoint:
    """``mode``: ok, error (HTTP 500), slow (answers after ``delay`` seconds), malformed or huge."""

    mode: str = "ok"
    delay: float = 2.0
    requests: list[tuple[dict[str, str], dict[str, object]]] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.requests.append((dict(request.headers), body))
        if self.mode == "error":
            return Response(b'{"error":"boom"}', status_code=500, media_type="application/json")
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "malformed":
            return Response(b'{"data":[]}', media_type="application/json")
        if self.mode == "huge":  # a valid answer of 1,000,000 dimensions, about 4.9 MB
            huge = {"data": [{"embedding": [0.123] * 1_000_000}]}
            return Response(orjson.dumps(huge), media_type="application/json")
        vector = fake_vector(str(body["input"]))
        answer = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": vector}]}
        return Response(orjson.dumps(answer), media_type="application/json")


@contextmanager
def serving_fake() -> Iterator[tuple[str, FakeEndpoint]]:
    """``(endpoint URL, fake)``; the URL carries a query token, which must never show in an error."""
    fake = FakeEndpoint()
    server = ServerThread(Starlette(routes=[Route("/v1/embeddings", fake.handle, methods=["POST"])]))
    url = server.start()
    try:
        yield f"{url}/v1/embeddings?token=url-secret", fake
    finally:
        server.stop()
