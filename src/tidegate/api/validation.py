"""Turn pydantic/FastAPI validation errors into README's 422 ``detail`` list and a one-line message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tidegate.errors import ValidationFailed

__all__ = ["Issue", "describe", "failed", "issues"]

#: One ``detail`` item: ``{"loc": [...], "msg": "...", "type": "..."}``.
Issue = dict[str, object]


def issues(errors: Iterable[Mapping[str, object]], prefix: Sequence[str | int] = ()) -> list[Issue]:
    """Keep only ``loc``, ``msg`` and ``type``: pydantic's ``input`` and ``ctx`` may echo client data."""
    result: list[Issue] = []
    for error in errors:
        raw_loc = error.get("loc", ())
        loc = list(raw_loc) if isinstance(raw_loc, (list, tuple)) else [str(raw_loc)]
        message, kind = str(error.get("msg", "")), str(error.get("type", ""))
        result.append({"loc": [*prefix, *loc], "msg": message, "type": kind})
    return result


def describe(detail: Sequence[Issue], skip: int = 0) -> str:
    """``body.namespace: Field required``, naming the first field (without the first ``skip`` loc parts)."""
    if not detail:
        return "validation failed"
    first = detail[0]
    loc = first.get("loc")
    parts = list(loc)[skip:] if isinstance(loc, list) else []
    where = ".".join(str(part) for part in parts)
    text = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    if len(detail) > 1:
        text += f" (and {len(detail) - 1} more)"
    return text


def failed(detail: Sequence[Issue]) -> ValidationFailed:
    return ValidationFailed(describe(detail), detail)
