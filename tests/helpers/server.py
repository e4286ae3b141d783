"""Run the real app on a real uvicorn server on a free loopback port (DESIGN.md §5), for any test suite.

The server runs in its own thread and event loop, so a test talks to it only over HTTP, exactly like a
client, and synchronous tools (schemathesis) can use it too. ``running_server`` is the async form,
``serving`` the synchronous one; both yield the base URL (``http://127.0.0.1:<port>``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from starlette.types import ASGIApp

from tidegate.api.app import create_app
from tidegate.clock import Clock
from tidegate.config import Settings

__all__ = ["ServerThread", "running_server", "serving"]

_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 20.0


class _DrainingServer(uvicorn.Server):
    """Ends open streams when shutdown begins, as ``tidegate serve`` does on SIGTERM (``api/drain.py``);
    a server in a thread gets no signal, so without this a test's open stream would hold ``stop``."""

    def __init__(self, config: uvicorn.Config, app: ASGIApp) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(getattr(self._app, "state", None), "services", None)
        if services is not None:
            services.drain_streams()
        await super().shutdown(sockets)


class ServerThread:
    """One uvicorn server for ``app`` on a socket bound before start (so the port is known and free)."""

    def __init__(self, app: ASGIApp) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, loop="asyncio", lifespan="on", log_level="warning", access_log=False)
        self._server = _DrainingServer(config, app)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def server(self) -> uvicorn.Server:
        """The uvicorn server (its ``server_state.connections`` show the open connections)."""
        return self._server

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start()/stop() in the test's thread
            self._error = exc

    def start(self) -> str:
        """Start and wait until uvicorn reports ``started`` (the lifespan has opened the services)."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test server did not start: {self._error!r}")
            time.sleep(0.002)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_STOP_TIMEOUT)
        self._socket.close()
        if self._error is not None:
            raise RuntimeError("the test server failed") from self._error


@asynccontextmanager
async def running_server(settings: Settings, *, clock: Clock | None = None) -> AsyncIterator[str]:
    """``create_app(settings, clock=clock)`` served on loopback for the duration of the block."""
    server = ServerThread(create_app(settings, clock=clock))
    url = await asyncio.to_thread(server.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(server.stop)


@contextmanager
def serving(settings: Settings, *, clock: Clock | None = None) -> Iterator[str]:
    """The synchronous form of ``running_server`` (module-scoped fixtures, schemathesis)."""
    server = ServerThread(create_app(settings, clock=clock))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
