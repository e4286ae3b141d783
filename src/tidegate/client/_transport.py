"""Small pieces both clients share around httpx: defaults, timeouts, status checks, error text."""

from __future__ import annotations

import logging

import httpx

from tidegate.client._resume import ConnectionChange, ConnectionHook

__all__ = ["DEFAULT_URL", "SSE_HEADERS", "describe", "http_timeouts", "notify", "succeeded"]

log = logging.getLogger("tidegate.client")

DEFAULT_URL = "http://127.0.0.1:8080"
SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}


def http_timeouts(request: float, stream_idle: float) -> httpx.Timeout:
    """For streams: connect and write as for any request, but a read may wait ``stream_idle`` seconds."""
    return httpx.Timeout(request, read=stream_idle)


def succeeded(response: httpx.Response, also: frozenset[int]) -> bool:
    return response.is_success or response.status_code in also


def describe(exc: httpx.TransportError) -> str:
    """``ConnectError: [Errno 111] Connection refused``; httpx messages carry no credentials."""
    text = str(exc) or "no details"
    return f"{type(exc).__name__}: {text}"


def notify(hook: ConnectionHook | None, change: ConnectionChange) -> None:
    """Tell the caller's hook; a hook that raises is logged, never allowed to end the stream."""
    if hook is None:
        return
    try:
        hook(change)
    except Exception:
        log.exception("on_connection hook failed")
