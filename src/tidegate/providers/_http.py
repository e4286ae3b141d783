"""What the HTTP providers (webhook, slack) share: the client, sending, and translating httpx failures.

Requests are built as bare ``httpx.Request`` values and sent with ``client.send``: the shared client's
cookie jar and default timeout never apply, so no cookie set by one tenant's server reaches another's,
and the executor's per-attempt timeout is the one limit."""

from __future__ import annotations

import math
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from tidegate.providers.base import ProviderError

__all__ = [
    "MAX_BODY_BYTES",
    "HttpReply",
    "decode_text",
    "new_http_client",
    "parse_retry_after",
    "post",
    "status_error",
    "transport_error",
]

#: Response bodies are read up to this size; a longer body is cut (and so is not parsed as JSON).
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class HttpReply:
    status_code: int
    headers: httpx.Headers
    content: bytes
    encoding: str


def new_http_client(*, verify: bool = True, max_connections: int = 200) -> httpx.AsyncClient:
    """A shared client suited to provider calls (Slack posts through it): no redirects, no proxies taken
    from the environment, no cookies kept, and no client timeout (the executor bounds each attempt).
    Webhooks use ``new_webhook_client`` instead, whose transport also checks destination addresses."""
    from http.cookiejar import CookieJar, DefaultCookiePolicy

    return httpx.AsyncClient(
        verify=verify,
        follow_redirects=False,
        trust_env=False,
        timeout=None,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=min(64, max_connections),
            keepalive_expiry=30,
        ),
    )


async def post(
    client: httpx.AsyncClient,
    url: httpx.URL,
    body: bytes,
    headers: Mapping[str, str],
) -> HttpReply:
    """POST without redirects and read at most ``MAX_BODY_BYTES`` of the reply; httpx errors propagate."""
    request = httpx.Request("POST", url, content=body, headers=headers)
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_BODY_BYTES:
                break
        content = b"".join(chunks)[:MAX_BODY_BYTES]
    finally:
        await response.aclose()
    return HttpReply(response.status_code, response.headers, content, response.charset_encoding or "utf-8")


def decode_text(reply: HttpReply, limit: int) -> str:
    """The first ``limit`` characters of the body, decoded with its charset (undecodable bytes replaced)."""
    try:
        text = reply.content.decode(reply.encoding, errors="replace")
    except LookupError:
        text = reply.content.decode("utf-8", errors="replace")
    return text[:limit]


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; an HTTP-date or a malformed value gives None (the backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def status_error(
    status: int, source: str, retry_after: float | None = None, detail: str = ""
) -> ProviderError:
    """Classify a non-2xx status (STYLE §6): 429 and 5xx are retryable, every other status is not."""
    message = f"HTTP {status} from {source}" + (f": {detail}" if detail else "")
    if status == 429:
        return ProviderError("rate_limited", message, retryable=True, retry_after=retry_after)
    return ProviderError("execution_failed", message, retryable=status >= 500)


def transport_error(exc: httpx.HTTPError) -> ProviderError:
    """A failure before a complete response: ``timeout`` or ``connection`` (both retryable)."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError("timeout", "timeout: no response in time")
    return ProviderError("connection", f"connection error: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """A short, secret-free cause; the exception text itself is never used (it may quote a URL)."""
    seen: BaseException | None = exc
    for _ in range(16):  # bounded walk of the cause chain
        if seen is None:
            break
        if isinstance(seen, socket.gaierror):
            return "cannot resolve host"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "TLS certificate verification failed"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed before a complete response"
    return "connection lost"
