"""Call an ASGI app in this process the way uvicorn would for one JSON POST, with no socket.

Timing such calls isolates the app (framework, middleware, endpoint, pipeline) from the server and the
network: the HTTP figure minus this one is what uvicorn, httptools and the kernel cost."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Scope

__all__ = ["post"]


def _scope(path: str, body: bytes) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": {},
    }


async def post(app: ASGIApp, path: str, body: bytes) -> int:
    """POST ``body`` to ``path``; returns the response status (the body is dropped)."""
    delivered = False
    status = 0

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected: never disconnects
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(path, body), receive, send)
    return status
