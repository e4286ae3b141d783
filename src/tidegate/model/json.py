"""JSON values and the one fast codec (orjson) used for wire bodies, store values and stream frames."""

from __future__ import annotations

from typing import TypeAlias

import orjson
from pydantic import JsonValue

__all__ = ["JsonObject", "JsonValue", "dumps", "dumps_sorted", "loads"]

JsonObject: TypeAlias = dict[str, JsonValue]


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON; non-ASCII stays UTF-8 (stream.md §0.3)."""
    return orjson.dumps(value)


def dumps_sorted(value: object) -> str:
    """Compact JSON with sorted keys: the canonical text hashed into keys and fingerprints."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def loads(data: bytes | str) -> JsonValue:
    value: JsonValue = orjson.loads(data)
    return value
