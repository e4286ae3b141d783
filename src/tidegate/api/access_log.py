"""Access-log lines: method, path, status, duration, request id; never headers or bodies (security.md §7).

The request id is a record field (``extra``), not part of the message: both log formatters append the
record's fields, so an id in the message as well would print twice."""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

__all__ = ["SENSITIVE_PARAMS", "access_logger", "log_access", "redact_query"]

access_logger = logging.getLogger("tidegate.access")

#: Query parameters whose values never reach a log line.
SENSITIVE_PARAMS = frozenset({"sig", "token", "api_key", "key", "password"})


def redact_query(query: bytes) -> str:
    """The query string with the values of sensitive parameters replaced by ``[redacted]``."""
    text = query.decode("latin-1")
    parts = []
    for part in text.split("&"):
        name, sep, _ = part.partition("=")
        if sep and unquote_plus(name).lower() in SENSITIVE_PARAMS:
            parts.append(f"{name}=[redacted]")
        else:
            parts.append(part)
    return "&".join(parts)


def log_access(
    method: str, raw_path: bytes, query: bytes, status: int, seconds: float, request_id: str
) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    path = raw_path.decode("ascii", "backslashreplace")
    if query:
        path = f"{path}?{redact_query(query)}"
    access_logger.info(
        "%s %s %d %.1fms",
        method,
        path,
        status,
        seconds * 1000.0,
        extra={"request_id": request_id},
    )
