"""A loopback TCP proxy in front of the shared PostgreSQL, so a test can take "the server" away.

The shared test server cannot be stopped, but a store connected through this proxy sees exactly what a
real outage looks like: ``stop`` cuts every connection and refuses new ones (server down), ``pause``
keeps connections open but forwards nothing (server hung), ``start`` again on the same port (server
back). ``sever_open_connections`` cuts each open connection only when its client next sends something:
the client learns in the middle of a statement (a connection that died while idle in a pool)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit, urlunsplit

__all__ = ["TcpProxy"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TcpProxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = _free_port()
        netloc = parts.netloc.rsplit("@", 1)
        userinfo = f"{netloc[0]}@" if len(netloc) == 2 else ""
        self.url = urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{self.port}"))
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._open: set[asyncio.StreamWriter] = set()  # client sides of the open connections
        self._severed: set[asyncio.StreamWriter] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._losing = False
        self._answerless: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [*self._pipes, *self._handlers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def sever_open_connections(self) -> None:
        self._severed.update(self._open)

    def lose_next_answer(self) -> None:
        """The next client to send something never hears the answer: the server's reply is dropped and
        the connection cut (a statement that ran, and for an INSERT outside a transaction committed)."""
        self._losing = True

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))
        self._open.add(client_writer)
        pipes = [
            asyncio.create_task(self._pipe(client_reader, upstream_writer, client_writer, upstream=True)),
            asyncio.create_task(self._pipe(upstream_reader, client_writer, client_writer, upstream=False)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            self._pipes.difference_update(pipes)
            self._open.discard(client_writer)
            self._severed.discard(client_writer)
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        *,
        upstream: bool,
    ) -> None:
        """Copy one direction (``upstream``: client to server) of ``client``'s connection."""
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if upstream and client in self._severed:
                    return  # the handler aborts both sides, without forwarding what the client sent
                if upstream and self._losing:
                    self._losing = False
                    self._answerless.add(client)
                if not upstream and client in self._answerless:
                    self._answerless.discard(client)
                    return  # likewise, without forwarding the server's answer
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
