"""Query values (README "Transport"): booleans accept exactly ``true|1|yes|on`` and ``false|0|no|off``.

Pydantic's lax bool also takes ``t``, ``y``, ``f`` and ``n``; the spec does not, hence ``QueryBool``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator
from starlette.requests import Request

from tidegate.api.validation import failed

__all__ = ["QueryBool", "parse_bool", "query_bool"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_EXPECTED = "must be one of true, 1, yes, on, false, 0, no, off"


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
