"""Query values (README "Transport"): booleans accept exactly ``true|1|yes|on`` and ``false|0|no|off``.

Pydantic's lax bool also takes ``t``, ``y``, ``f`` and ``n``; the spec does not, hence ``QueryBool``. The
streams' ``timeout`` (stream.md §2.1, §3.1) is read here too, so both streams answer it identically."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BeforeValidator
from starlette.requests import Request

from tidegate.api.validation import failed

__all__ = ["QueryBool", "last_event_id", "parse_bool", "query_bool", "stream_timeout"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_EXPECTED = "must be one of true, 1, yes, on, false, 0, no, off"

#: A stream's ``timeout`` bounds and default, in seconds (seed 002; api.md §3.5).
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 1.0, 3600.0, 300.0
_TIMEOUT_MESSAGE = "must be a number of seconds from 1 to 3600"


def parse_bool(text: str) -> bool:
    """Raises ValueError for anything but the eight accepted words (case-insensitive)."""
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(_EXPECTED)


def _coerce(value: object) -> object:
    return parse_bool(value) if isinstance(value, str) else value


#: A FastAPI query parameter type with the spec's boolean words.
QueryBool = Annotated[bool, BeforeValidator(_coerce)]


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    """Read one boolean query parameter without FastAPI's parameter machinery (the dispatch hot path)."""
    if not request.scope.get("query_string"):
        return default  # most dispatches have no query: skip building QueryParams
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return parse_bool(raw)
    except ValueError:
        raise failed([{"loc": ["query", name], "msg": _EXPECTED, "type": "bool_parsing"}]) from None


def stream_timeout(request: Request) -> float:
    """The ``timeout`` query value: a finite number of seconds in [1, 3600], default 300 (else 422)."""
    raw = request.query_params.get("timeout")
    if raw is None:
        return TIMEOUT_DEFAULT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not TIMEOUT_MIN <= seconds <= TIMEOUT_MAX:  # NaN fails every comparison
        raise failed([{"loc": ["query", "timeout"], "msg": _TIMEOUT_MESSAGE, "type": "value_error"}])
    return seconds


def last_event_id(request: Request) -> str | None:
    """The ``Last-Event-ID`` header, else the ``last_event_id`` query value (stream.md §1.1, §2.1),
    trimmed; None when absent or empty."""
    value = request.headers.get("last-event-id")
    if value is None:
        value = request.query_params.get("last_event_id")
    return (value or "").strip() or None
