"""Seed 000's own client snippets against the real server: Python ``requests`` (verbatim), Node with the
npm ``eventsource`` package (verbatim, and with a ``fetch`` override carrying credentials), and curl -N.

eventsource 4 ignores the snippet's ``headers`` option, so the verbatim Node test runs with auth disabled
(the default here) and credentials are covered by the ``fetch`` variant. npm installs the package once per
session into a temporary folder; without npm the Node tests skip, unless CI is set: then they fail."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.stream_http._server import StreamServer, make
from tests.stream_http.conftest import stream_server
from tidegate.stream.frames import encode_event

FAILED = {"Failed": {"code": "connection", "message": "refused", "retryable": True, "attempts": 1}}

#: Seed 000's Python example, byte for byte; only the URL is replaced.
SEED_PYTHON = """\
import requests

url = "http://localhost:8080/v1/stream"
headers = {"Authorization": "Bearer <token>"}
params = {"namespace": "alerts", "outcome": "failed"}

with requests.get(url, headers=headers, params=params, stream=True) as resp:
    for line in resp.iter_lines(decode_unicode=True):
        if line.startswith("data:"):
            import json
            event = json.loads(line[5:].strip())
            print(f"Event: {event['id']} - {event['type']}")
"""

#: Seed 000's Node.js example, byte for byte; only the URL is replaced.
SEED_NODE = """\
import { EventSource } from "eventsource";

const es = new EventSource(
  "http://localhost:8080/v1/stream?namespace=alerts",
  { headers: { Authorization: "Bearer <token>" } }
);

es.addEventListener("action_dispatched", (e) => {
  const event = JSON.parse(e.data);
  console.log(`Dispatched: ${event.action_id} -> ${event.provider}`);
});

es.addEventListener("lagged", (e) => {
  const { skipped } = JSON.parse(e.data);
  console.warn(`Missed ${skipped} events`);
});
"""

#: The same client sending credentials the way eventsource 4 supports: a ``fetch`` override.
NODE_WITH_FETCH = """\
import { EventSource } from "eventsource";

const es = new EventSource("http://localhost:8080/v1/stream?namespace=alerts", {
  fetch: (input, init) =>
    fetch(input, { ...init, headers: { ...init.headers, Authorization: "Bearer tg_test_token" } }),
});

es.addEventListener("action_dispatched", (e) => {
  const event = JSON.parse(e.data);
  console.log(`Dispatched: ${event.action_id} -> ${event.provider}`);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamServer]:
    with stream_server(tmp_path_factory.mktemp("clients")) as running:
        yield running


@pytest.fixture(scope="session")
def eventsource_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``node_modules/eventsource`` (version 4), installed once per test session."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set, so the Node client tests must run, but npm or node is missing")
        pytest.skip("npm/node is not installed (set CI=true to make this a failure)")
    directory = tmp_path_factory.mktemp("eventsource")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "eventsource@4"],
        cwd=directory,
        check=True,
        timeout=180,
        capture_output=True,
    )
    return directory


@asynccontextmanager
async def running(
    server: StreamServer, *command: str, cwd: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The client process, started once every earlier stream is gone, killed at the end."""
    await server.wait_for(server.idle)
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def lines(process: asyncio.subprocess.Process, count: int) -> list[str]:
    """The next ``count`` stdout lines (a dead process fails the test with its stderr)."""
    assert process.stdout is not None and process.stderr is not None
    found = []
    async with asyncio.timeout(10):
        while len(found) < count:
            line = await process.stdout.readline()
            if not line:
                raise AssertionError((await process.stderr.read()).decode())
            found.append(line.decode().rstrip("\n"))
    return found


async def connected(server: StreamServer, process: asyncio.subprocess.Process) -> None:
    """Wait until the client's subscription exists; fail early with its stderr if it died."""

    def ready() -> bool:
        return process.returncode is not None or server.services.broadcaster.subscriber_count == 1

    await server.wait_for(ready, within=10.0)
    if process.returncode is not None:
        assert process.stderr is not None
        raise AssertionError((await process.stderr.read()).decode())


async def dispatch(client: httpx.AsyncClient, namespace: str) -> str:
    action = {
        "namespace": namespace,
        "tenant": "acme",
        "provider": "log",
        "action_type": "page",
        "payload": {},
    }
    response = await client.post("/v1/dispatch", json=action)
    assert response.status_code == 200
    action_id: str = response.json()["action_id"]
    return action_id


async def test_seed_python_requests_snippet(server: StreamServer, tmp_path: Path) -> None:
    script = tmp_path / "seed.py"
    script.write_text(SEED_PYTHON.replace("http://localhost:8080", server.url))
    async with running(server, sys.executable, "-u", str(script)) as process:
        await connected(server, process)
        first, second = make(outcome=FAILED), make(outcome=FAILED, action_type="x")
        await server.publish([first, make(), make(namespace="elsewhere", outcome=FAILED), second])
        printed = await lines(process, 2)
    assert printed == [f"Event: {first.id} - action_dispatched", f"Event: {second.id} - action_dispatched"]


async def test_seed_node_eventsource_snippet(server: StreamServer, eventsource_dir: Path) -> None:
    script = eventsource_dir / "seed.mjs"
    script.write_text(SEED_NODE.replace("http://localhost:8080", server.url))
    async with (
        httpx.AsyncClient(base_url=server.url) as client,
        running(server, "node", str(script), cwd=eventsource_dir) as process,
    ):
        await connected(server, process)
        await dispatch(client, "elsewhere")
        first = await dispatch(client, "alerts")
        second = await dispatch(client, "alerts")
        printed = await lines(process, 2)
    assert printed == [f"Dispatched: {first} -> log", f"Dispatched: {second} -> log"]


async def test_node_eventsource_sends_credentials_through_fetch(
    server: StreamServer, eventsource_dir: Path
) -> None:
    script = eventsource_dir / "with_fetch.mjs"
    script.write_text(NODE_WITH_FETCH.replace("http://localhost:8080", server.url))
    server.stream_headers.clear()
    async with (
        httpx.AsyncClient(base_url=server.url) as client,
        running(server, "node", str(script), cwd=eventsource_dir) as process,
    ):
        await connected(server, process)
        action_id = await dispatch(client, "alerts")
        assert await lines(process, 1) == [f"Dispatched: {action_id} -> log"]
    (headers,) = server.stream_headers
    assert headers["authorization"] == "Bearer tg_test_token"
    assert headers["accept"] == "text/event-stream"


async def test_curl_no_buffer(server: StreamServer) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    url = f"{server.url}/v1/stream?namespace=curl"
    async with running(server, curl, "-N", "-s", "-i", "--max-time", "20", url) as process:
        assert process.stdout is not None
        await connected(server, process)
        event = (await server.publish([make(namespace="curl")]))[0]
        head = []
        async with asyncio.timeout(10):  # curl prints the head along with the first body bytes
            while (line := await process.stdout.readline()) != b"\r\n":
                head.append(line.decode().rstrip("\r\n").lower())
            expected = encode_event(event)
            body = b""
            while expected not in body:
                body += await process.stdout.read(4096)
    assert head[0] == "http/1.1 200 ok"
    assert {"content-type: text/event-stream", "cache-control: no-cache", "x-accel-buffering: no"} <= set(
        head
    )
    assert body.replace(b": ping\n\n", b"") == expected
