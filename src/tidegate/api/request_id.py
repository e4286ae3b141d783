"""Request ids (README "Request ids"): pick one per request and make it visible to handlers and logs.

The edge middleware stores the id in ``scope["state"]["request_id"]`` and in a context variable; the
context variable reaches every log line written while the request runs (``RequestIdFilter``)."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from starlette.types import Scope

from tidegate.model.ids import new_id

__all__ = ["REQUEST_ID", "RequestIdFilter", "pick_request_id", "request_id_of"]

#: The id of the request being handled in this context ("-" outside any request).
REQUEST_ID: ContextVar[str] = ContextVar("tidegate_request_id", default="-")

_VALID = re.compile(rb"[\x21-\x7e]{1,128}")


def pick_request_id(incoming: bytes | None) -> str:
    """Keep a client id of 1-128 printable ASCII characters (0x21-0x7E); otherwise make a UUIDv7."""
    if incoming is not None and _VALID.fullmatch(incoming):
        return incoming.decode("ascii")
    return new_id()


def request_id_of(scope: Scope) -> str:
    """The id the edge middleware chose for this request (a fresh one if it never ran, e.g. in unit tests)."""
    state = scope.get("state")
    if state is not None:
        value = state.get("request_id")
        if isinstance(value, str):
            return value
    current = REQUEST_ID.get()
    return current if current != "-" else new_id()


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` to every line written while a request runs, so a log line can be traced
    back to the response that carried the same ``X-Request-ID``; lines outside a request are left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            current = REQUEST_ID.get()
            if current != "-":
                record.request_id = current
        return True
