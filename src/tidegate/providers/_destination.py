"""Which webhook URLs may be called, and how much of a URL an error message may show (features.md §8.2)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

import httpx

from tidegate.providers.base import ProviderError

__all__ = [
    "Resolver",
    "check_url",
    "display_url",
    "is_link_local",
    "prefix_matches",
    "resolve_host",
]

#: Resolves (host, port) to IP address strings, in preference order.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


def display_url(url: str | httpx.URL) -> str:
    """``scheme://host[:port]/path``: the most of a URL an error message may show (no userinfo or query)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"
    netloc = parsed.netloc.decode("ascii", errors="replace")
    path = parsed.raw_path.split(b"?", 1)[0].decode("ascii", errors="replace")
    return f"{parsed.scheme}://{netloc}{path}"


def is_link_local(address: str) -> bool:
    """169.254.0.0/16 or fe80::/10, also as an IPv4-mapped IPv6 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_link_local
    return ip.is_link_local


async def resolve_host(host: str, port: int) -> Sequence[str]:
    """Every address of ``host`` the system resolver gives for a TCP connection, duplicates removed."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        addresses[str(sockaddr[0])] = None
    return list(addresses)


def _without_userinfo(raw: str) -> str:
    """The URL without ``userinfo@``, so ``https://allowed.example@evil.example`` cannot pass a prefix."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return raw
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    authority = rest[:end]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{rest[end:]}"


def prefix_matches(url: str, prefix: str) -> bool:
    """Whether ``url`` starts with ``prefix``; a prefix that ends at the host must end ``url``'s host too."""
    candidate = _without_userinfo(url)
    if not candidate.startswith(prefix):
        return False
    _, sep, rest = prefix.partition("://")
    if not sep or not rest or any(c in rest for c in "/?#") or len(candidate) == len(prefix):
        return True
    return candidate[len(prefix)] in "/?#:"


def _configuration(message: str) -> ProviderError:
    return ProviderError("configuration", message, retryable=False)


def check_url(raw_url: str, allowed_prefixes: Sequence[str]) -> httpx.URL:
    """The URL checks made before any I/O (features.md §8.2): an http(s) URL with a host, under an allowed
    prefix when prefixes are configured. Raises ``ProviderError`` (``configuration``, not retryable).

    The address check happens when a connection opens (``_transport``), on the addresses it connects to."""
    try:
        url = httpx.URL(raw_url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _configuration("invalid webhook URL") from None
    shown = display_url(url)
    if url.scheme not in ("http", "https"):
        raise _configuration(f"webhook URL scheme must be http or https: {shown}")
    if not url.raw_host:
        raise _configuration(f"webhook URL has no host: {shown}")
    if allowed_prefixes and not any(prefix_matches(raw_url, p) for p in allowed_prefixes):
        raise _configuration(f"webhook URL is not under an allowed prefix: {shown}")
    return url
