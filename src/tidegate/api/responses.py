"""JSON responses encoded with orjson (compact UTF-8, no NaN), bypassing FastAPI's serializer."""

from __future__ import annotations

from starlette.responses import Response

from tidegate.model.json import dumps

__all__ = ["json_response"]


def json_response(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json", headers=headers)
