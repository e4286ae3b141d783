"""The checked transport: connections only to checked addresses, httpcore errors as httpx's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore
import httpx
import pytest

from tidegate.providers import ProviderError, WebhookClient, WebhookProvider, new_webhook_client
from tidegate.providers._transport import AddressRefused, _CheckingBackend

from ._support import FixedResolver, make_action


class RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, fail: set[str] | None = None) -> None:
        self.connects: list[str] = []
        self.fail = fail or set()
        self.real = httpcore.AnyIOBackend()

    async def connect_tcp(  # type: ignore[override]
        self, host: str, port: int, *args: object, **kwargs: object
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append(host)
        if host in self.fail:
            raise httpcore.ConnectError("refused")
        return await self.real.connect_tcp(host, port)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[bytes], Awaitable[int]]]:
    """Starts a server that answers every connection with fixed bytes, then closes it."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_the_inner_backend_is_given_checked_addresses_in_order(
    raw_server: Callable[[bytes], Awaitable[int]],
) -> None:
    port = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    backend = RecordingBackend(fail={"127.0.0.3"})
    resolve = FixedResolver({"svc.test": ["127.0.0.3", "127.0.0.1"]})
    async with new_webhook_client(resolve=resolve, backend=backend) as http:
        response = await http.get(f"http://svc.test:{port}/")
    assert response.status_code == 200 and response.text == "ok"
    assert backend.connects == ["127.0.0.3", "127.0.0.1"]


async def test_a_body_cut_short_is_a_translated_protocol_error(
    raw_server: Callable[[bytes], Awaitable[int]],
) -> None:
    port = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
    async with new_webhook_client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{port}/")
        error = await _webhook_error(http, f"http://127.0.0.1:{port}/")
    assert (error.code, error.retryable) == ("connection", True)


async def test_a_garbled_reply_is_a_translated_protocol_error(
    raw_server: Callable[[bytes], Awaitable[int]],
) -> None:
    port = await raw_server(b"NOT HTTP AT ALL\r\n\r\n")
    async with new_webhook_client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{port}/")


async def _webhook_error(http: httpx.AsyncClient, url: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await WebhookProvider("hook", WebhookClient(http), url=url).execute(make_action(), 1)
    return caught.value


async def test_backend_refuses_link_local_and_unix_sockets() -> None:
    inner = RecordingBackend()
    backend = _CheckingBackend(FixedResolver({"meta.test": ["10.0.0.1", "169.254.169.254"]}), inner)
    with pytest.raises(AddressRefused):
        await backend.connect_tcp("meta.test", 80)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_unix_socket("/var/run/docker.sock")
    assert inner.connects == []


async def test_backend_reports_unresolvable_and_empty_answers() -> None:
    async def nothing(host: str, port: int) -> list[str]:
        return []

    for resolve in (FixedResolver({}), nothing):
        with pytest.raises(httpcore.ConnectError, match="cannot resolve host"):
            await _CheckingBackend(resolve, RecordingBackend()).connect_tcp("x.test", 80)


async def test_connect_timeout_is_translated() -> None:
    class Slow(RecordingBackend):
        async def connect_tcp(  # type: ignore[override]
            self, host: str, port: int, *args: object, **kwargs: object
        ) -> httpcore.AsyncNetworkStream:
            raise httpcore.ConnectTimeout("slow")

    async with new_webhook_client(resolve=FixedResolver({"x.test": ["127.0.0.1"]}), backend=Slow()) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get("http://x.test/")
        error = await _webhook_error(http, "http://x.test/")
    assert (error.code, error.retryable) == ("timeout", True)
