"""Request bodies, checked in api.md §1.4's order: size (413, the edge middleware), media type (415),
JSON syntax (400 ``invalid_json``), nesting depth and schema (422).

Endpoints read bodies through here instead of FastAPI's body parameters: FastAPI would turn every read
error (including the 413 raised while reading) into its own 400 or 422 and costs time on the hot path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from tidegate.api.validation import failed, issues
from tidegate.errors import InvalidJson, UnsupportedMediaType, ValidationFailed
from tidegate.model.json import JsonValue

__all__ = [
    "MAX_DEPTH",
    "check_depth",
    "check_media_type",
    "parse_json",
    "read_json",
    "receive_body",
    "validate",
]

#: Deepest accepted nesting of arrays and objects (the top-level container is depth 1).
MAX_DEPTH = 64

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request, *, check_nesting: bool = True) -> JsonValue:
    """The parsed body; raises PayloadTooLarge, UnsupportedMediaType, InvalidJson or ValidationFailed.

    ``check_nesting=False`` leaves the depth check to the caller (a batch checks each item instead)."""
    raw = await receive_body(request)
    check_media_type(_content_type(request.scope["headers"]))
    value = parse_json(raw)
    if check_nesting:
        check_depth(value)
    return value


async def receive_body(request: Request) -> bytes:
    """The whole body, read once: ``Request.body()`` without its async generator (this is the hot path).

    Like Starlette, it raises ``ClientDisconnect`` when the client goes away first."""
    receive = request.receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                if not chunks:
                    return chunk
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)
        elif kind == "http.disconnect":
            raise ClientDisconnect()


def _content_type(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The first ``Content-Type`` header, as ``Request.headers.get`` would give it (latin-1)."""
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1")
    return None


def check_media_type(content_type: str | None) -> None:
    """``application/json``, parameters such as ``; charset=utf-8`` allowed (README "Transport")."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")


def parse_json(raw: bytes) -> JsonValue:
    """Strict UTF-8 JSON; NaN and Infinity are not JSON (orjson refuses them)."""
    try:
        value: JsonValue = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise _too_deep(("body",)) from exc
        raise InvalidJson(f"invalid JSON: {exc}") from exc
    return value


def check_depth(value: JsonValue, loc: Sequence[str | int] = ("body",), limit: int = MAX_DEPTH) -> None:
    """Raise 422 when arrays/objects nest deeper than ``limit``; iterative, so no recursion limit applies."""
    stack: list[tuple[JsonValue, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, list):
            children = current  # type: ignore[assignment]
        else:
            continue
        if depth > limit:
            raise _too_deep(loc, limit)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def validate(model: type[M], value: object, prefix: Sequence[str | int] = ("body",)) -> M:
    """``model.model_validate`` with pydantic's errors turned into README's 422 ``detail`` list."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise failed(issues(exc.errors(include_url=False, include_input=False), prefix)) from None


def _too_deep(loc: Sequence[str | int], limit: int = MAX_DEPTH) -> ValidationFailed:
    message = f"JSON is nested deeper than {limit} levels"
    return ValidationFailed(message, [{"loc": list(loc), "msg": message, "type": "too_deep"}])
