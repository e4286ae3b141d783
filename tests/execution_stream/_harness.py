"""What the per-execution stream tests share: the remote step endpoint (a local HTTP server whose answers
can be held back per step), the settings of a three-step chain calling it, and a raw SSE reader that
keeps every frame byte for byte (comments included), so frame layout and heartbeats can be checked.

The chain ``three-steps`` runs ``a``, ``b`` and ``c`` on the webhook provider ``hook``; each step's action
carries the labels ``chain_id`` and ``chain_step``. A rule starts it for ``action_type: pipeline``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.server import ServerThread

__all__ = [
    "CHAIN_RULES",
    "Frame",
    "RawStream",
    "StepTarget",
    "chain_sections",
    "open_stream",
    "pipeline_action",
    "step_target",
]

CHAIN_RULES = """\
rules:
  - name: start-pipeline
    priority: 1
    condition: {field: action.action_type, eq: pipeline}
    action: {type: chain, chain: three-steps}
"""


def chain_sections(target_url: str, **extra: object) -> dict[str, object]:
    """Config sections for the chain on ``target_url``; fast worker polling, 1 s keep-alive."""
    steps = [
        {
            "name": name,
            "provider": "hook",
            "action_type": f"step_{name}",
            "payload_template": {"step": name, "chain_id": "{{ chain_id }}"},
        }
        for name in ("a", "b", "c")
    ]
    sections: dict[str, object] = {
        "providers": [{"name": "log", "type": "log"}, {"name": "hook", "type": "webhook", "url": target_url}],
        "chains": {"definitions": [{"name": "three-steps", "steps": steps}]},
        "background": {"poll_interval_seconds": 0.1},
        "executor": {"max_retries": 0},
        "stream": {"keep_alive_seconds": 1},
    }
    sections.update(extra)
    return sections


def pipeline_action(tenant: str = "acme", namespace: str = "flows") -> dict[str, object]:
    return {
        "namespace": namespace,
        "tenant": tenant,
        "provider": "log",
        "action_type": "pipeline",
        "payload": {"query": "tidegate"},
    }


@dataclass
class StepTarget:
    """The remote endpoint of every step. A held step's request waits until ``release(step)``;
    ``arrived(step)`` tells that its request came in. Thread-safe: the server runs in its own thread."""

    url: str = ""
    _held: dict[str, threading.Event] = field(default_factory=dict)
    _arrivals: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, step: str, chain_id: str = "*") -> None:
        with self._lock:
            self._held[f"{chain_id}/{step}"] = threading.Event()

    def release(self, step: str, chain_id: str = "*") -> None:
        with self._lock:
            gate = self._held.pop(f"{chain_id}/{step}", None)
        if gate is not None:
            gate.set()

    def release_all(self) -> None:
        with self._lock:
            gates, self._held = list(self._held.values()), {}
        for gate in gates:
            gate.set()

    async def arrived(self, step: str, chain_id: str, within: float = 10.0) -> None:
        event = self._arrival(f"{chain_id}/{step}")
        assert await asyncio.to_thread(event.wait, within), f"step {step} of {chain_id} never called"

    def _arrival(self, key: str) -> threading.Event:
        with self._lock:
            return self._arrivals.setdefault(key, threading.Event())

    def _gate(self, chain_id: str, step: str) -> threading.Event | None:
        with self._lock:
            return self._held.get(f"{chain_id}/{step}") or self._held.get(f"*/{step}")

    async def handle(self, request: Request) -> Response:
        labels = orjson.loads(await request.body())["metadata"]  # the action, as the webhook posts it
        step, chain_id = str(labels.get("chain_step")), str(labels.get("chain_id"))
        self._arrival(f"{chain_id}/{step}").set()
        gate = self._gate(chain_id, step)
        if gate is not None:
            await asyncio.to_thread(gate.wait)
        return JSONResponse({"ok": True, "step": step})


@contextmanager
def step_target() -> Iterator[StepTarget]:
    target = StepTarget()
    server = ServerThread(Starlette(routes=[Route("/step", target.handle, methods=["POST"])]))
    target.url = server.start() + "/step"
    try:
        yield target
    finally:
        target.release_all()
        server.stop()


@dataclass(frozen=True)
class Frame:
    """One SSE frame as sent (without its blank line), and its fields in order."""

    raw: bytes

    @property
    def fields(self) -> list[tuple[str, str]]:
        pairs = []
        for line in self.raw.decode().split("\n"):
            name, _, value = line.partition(": ")
            pairs.append((name, value))
        return pairs

    @property
    def is_comment(self) -> bool:
        return self.raw.startswith(b":")

    @property
    def event(self) -> str | None:
        return dict(self.fields).get("event")

    @property
    def id(self) -> str | None:
        return dict(self.fields).get("id")

    @property
    def data(self) -> dict[str, object]:
        value = orjson.loads(dict(self.fields)["data"])
        assert isinstance(value, dict)
        return value


class RawStream:
    """Reads frames off an open streaming response, exactly as the server wrote them."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._chunks = response.aiter_bytes()
        self._buffer = b""
        self.ended = False

    async def frame(self, within: float = 10.0) -> Frame | None:
        """The next frame (comments included); None when the server ended the stream."""
        async with asyncio.timeout(within):
            while b"\n\n" not in self._buffer:
                try:
                    self._buffer += await anext(self._chunks)
                except StopAsyncIteration:
                    assert self._buffer == b"", self._buffer  # never a partial frame
                    self.ended = True
                    return None
        raw, self._buffer = self._buffer.split(b"\n\n", 1)
        return Frame(raw)

    async def events(self, count: int, within: float = 10.0) -> list[Frame]:
        """The next ``count`` frames that are not comments, all within ``within`` seconds."""
        taken: list[Frame] = []
        async with asyncio.timeout(within):
            while len(taken) < count:
                frame = await self.frame(within)
                assert frame is not None, f"the stream ended after {[f.event for f in taken]}"
                if not frame.is_comment:
                    taken.append(frame)
        return taken

    async def rest(self, within: float = 20.0) -> list[Frame]:
        """Every remaining non-comment frame until the server ends the stream, within ``within`` seconds."""
        taken: list[Frame] = []
        async with asyncio.timeout(within):
            while (frame := await self.frame(within)) is not None:
                if not frame.is_comment:
                    taken.append(frame)
        return taken


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    json: object = None,
) -> AsyncIterator[RawStream]:
    """An open stream that answered 200 with the SSE head; the client disconnects when the block ends."""
    request = client.build_request(method, path, params=params, headers=headers, json=json)
    response = await client.send(request, stream=True)
    try:
        assert response.status_code == 200, (response.status_code, await response.aread())
        assert response.headers["content-type"] == "text/event-stream"
        yield RawStream(response)
    finally:
        await response.aclose()
