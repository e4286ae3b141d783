"""The edge middleware: one pure-ASGI layer doing everything every request needs.

It picks the request id, adds ``X-Request-ID`` and ``X-Content-Type-Options`` to every response (errors and
streams included) and ``X-RateLimit-*`` to those a rate limit counted, enforces the body limit while the
body is read, turns an escaped exception into the generic 500, and records the HTTP metric and the
access-log line. One layer instead of five keeps the per-request overhead to a few attribute lookups (it
sits on the benchmarked dispatch path).

The body limit is enforced lazily, in ``receive``: a declared ``Content-Length`` over the limit fails on
the first read, before any byte is consumed, and a chunked body fails as soon as the count passes the
limit. Endpoints that take no body never read it, so they never answer 413 (README: they ignore it), and
routing errors (404, 405) come first, as api.md §1.4 orders them."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidegate.api.access_log import log_access
from tidegate.api.errors import render
from tidegate.api.rate_limits import RATE_LIMIT_STATE, rate_limit_headers
from tidegate.api.request_id import REQUEST_ID, pick_request_id
from tidegate.errors import PayloadTooLarge

__all__ = ["BATCH_PATH", "BodyLimits", "EdgeMiddleware"]

log = logging.getLogger("tidegate.api")

BATCH_PATH = "/v1/dispatch/batch"
_NOSNIFF = (b"x-content-type-options", b"nosniff")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    default: int
    batch: int

    def for_path(self, path: str) -> int:
        return self.batch if path == BATCH_PATH else self.default


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, app_state: State, limits: BodyLimits) -> None:
        self.app = app
        self._state = app_state
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        incoming_id: bytes | None = None
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and incoming_id is None:
                incoming_id = value
            elif name == b"content-length":
                declared = value
        request_id = pick_request_id(incoming_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        extra = [(b"x-request-id", request_id.encode("ascii")), _NOSNIFF]
        limit = self._limits.for_path(scope["path"])
        status = 0
        received = 0
        checked = False

        async def limited_receive() -> Message:
            nonlocal received, checked
            if not checked:
                checked = True
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
            return message

        async def tagged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), *extra]
                limited = state.get(RATE_LIMIT_STATE)  # a rate limit counted the request (security.md §9)
                if limited is not None:
                    headers += rate_limit_headers(limited)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, tagged_send)
        except Exception as exc:
            if status:
                log.error("error after the response started (correlation_id=%s)", request_id, exc_info=exc)
                raise
            await render(exc, scope)(scope, receive, tagged_send)
        finally:
            REQUEST_ID.reset(token)
            # 499 (nginx's "client closed request"): cancelled before any response was sent.
            self._observe(scope, status or 499, time.perf_counter() - started_at, request_id)

    def _observe(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        services = getattr(self._state, "services", None)
        if services is not None:
            services.metrics.record_http(scope["method"], route, status, seconds)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        log_access(scope["method"], raw_path, scope["query_string"], status, seconds, request_id)
