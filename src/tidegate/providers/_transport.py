"""An httpx transport whose connections go only to addresses that passed the link-local check.

The host is resolved when a connection opens; if any address is link-local (169.254.0.0/16, fe80::/10)
the connection is refused, otherwise the socket connects to one of those same addresses. The check and
the connect use one DNS answer, so a rebinding answer cannot reach a cloud metadata endpoint
(features.md §8.2). URLs keep their host name: pooled connections are keyed by name, and TLS verifies
the name as usual. The transport is httpcore's connection pool with a checking network backend; httpcore
errors are translated to httpx's, as httpx's own transport does."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import NewType

import httpcore
import httpx

from tidegate.providers._destination import Resolver, is_link_local, resolve_host

__all__ = ["AddressRefused", "CheckedTransport", "WebhookClient", "new_webhook_client"]

#: An httpx client whose transport refuses link-local destinations; made by ``new_webhook_client``.
WebhookClient = NewType("WebhookClient", httpx.AsyncClient)

DEFAULT_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30.0)

_TRANSLATIONS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


class AddressRefused(httpcore.ConnectError):
    """The host resolves to a link-local address; nothing was connected."""


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _TRANSLATIONS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _CheckingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, resolve: Resolver, inner: httpcore.AsyncNetworkBackend) -> None:
        self._resolve = resolve
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = list(await self._resolve(host, port))
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError("cannot resolve host") from exc
        if not addresses:
            raise httpcore.ConnectError("cannot resolve host")
        if any(is_link_local(address) for address in addresses):
            raise AddressRefused("the host resolves to a link-local address")
        failure: httpcore.ConnectError | None = None
        for address in addresses:  # in resolver order; the next one only if this one cannot be reached
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError("cannot connect")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _translated():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _translated():
                await close()


class CheckedTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over a connection pool whose every connection is to a checked address."""

    def __init__(
        self,
        *,
        verify: bool | ssl.SSLContext = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        resolve: Resolver = resolve_host,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckingBackend(resolve, backend or httpcore.AnyIOBackend()),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, AsyncIterable):
            raise TypeError("CheckedTransport needs an async request body")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _translated():
            response = await self._pool.handle_async_request(core_request)
        if not isinstance(response.stream, AsyncIterable):
            raise TypeError("the async pool returned a sync stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def new_webhook_client(
    *,
    verify: bool | ssl.SSLContext = True,
    limits: httpx.Limits = DEFAULT_LIMITS,
    resolve: Resolver = resolve_host,
    backend: httpcore.AsyncNetworkBackend | None = None,
) -> WebhookClient:
    """The client webhooks are sent with: checked destinations, no redirects, no cookies kept, no env
    proxies (a proxy would connect on our behalf, unchecked) and no client timeout (the executor bounds
    each attempt)."""
    from http.cookiejar import CookieJar, DefaultCookiePolicy

    client = httpx.AsyncClient(
        transport=CheckedTransport(verify=verify, limits=limits, resolve=resolve, backend=backend),
        follow_redirects=False,
        trust_env=False,
        timeout=None,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )
    return WebhookClient(client)
