"""Test helpers: an action factory and a tiny HTTP/1.1 server on loopback that records what it receives."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tidegate.model.action import Action
from tidegate.model.json import JsonValue


def make_action(payload: JsonValue = None, **changes: object) -> Action:
    action = Action(
        id="019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",
        namespace="notifications",
        tenant="tenant-1",
        provider="hook",
        action_type="notify",
        payload={"text": "hi"} if payload is None else payload,
        created_at=datetime(2026, 2, 7, 14, 30, tzinfo=UTC),
    )
    return action.replace(**changes) if changes else action


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "application/json")])
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes


class LocalHttpServer:
    """Answers each request with the next scripted ``Reply`` (or ``default``); keeps connections alive."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a cancelled handler ends normally: asyncio's stream callback would log a cancelled task
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        raw: list[tuple[str, str]] = []
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, value = header.decode("latin-1").split(":", 1)
            raw.append((name.strip(), value.strip()))
        headers = {name.lower(): value for name, value in raw}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Seen(method, target, headers, raw, body))
        reply = self.replies.popleft() if self.replies else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        head = [f"HTTP/1.1 {reply.status} Reply", f"Content-Length: {len(reply.body)}"]
        head += [f"{name}: {value}" for name, value in reply.headers]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)
        await writer.drain()
        return True


class FixedResolver:
    """Resolves from a table (an unknown host fails like DNS would) and records each lookup."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
