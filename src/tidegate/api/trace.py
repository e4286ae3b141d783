"""W3C trace context from request headers (README "Trace context"): invalid values are ignored, not errors."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["trace_context", "trace_context_of"]

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def trace_context(traceparent: str | None, tracestate: str | None) -> dict[str, str]:
    """``{"traceparent", "tracestate"?}`` for a valid ``traceparent`` (neither id all zeros), else ``{}``."""
    if traceparent is None:
        return {}
    match = _TRACEPARENT.fullmatch(traceparent)
    if match is None or match[1] == _ZERO_TRACE or match[2] == _ZERO_SPAN:
        return {}
    context = {"traceparent": traceparent}
    if tracestate:
        context["tracestate"] = tracestate
    return context


def trace_context_of(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """``trace_context`` of a request's raw ASGI headers, read in one pass (first occurrence of each)."""
    traceparent: str | None = None
    tracestate: str | None = None
    for name, value in headers:
        if name == b"traceparent":
            if traceparent is None:
                traceparent = value.decode("latin-1")
        elif name == b"tracestate" and tracestate is None:
            tracestate = value.decode("latin-1")
    return trace_context(traceparent, tracestate)
