"""RFC 7386 JSON Merge Patch, as the ``modify`` verdict applies it (features.md §7); chains reuse it."""

from __future__ import annotations

from tidegate.model.json import JsonValue

__all__ = ["merge_patch"]


def merge_patch(target: JsonValue, patch: JsonValue) -> JsonValue:
    """Return ``target`` patched by ``patch``; neither input is mutated.

    Object members merge recursively and a ``null`` member deletes the key; arrays and scalars replace.
    A non-object patch replaces the whole target; a non-object target patched with an object becomes
    ``{}`` first. Untouched members are shared with ``target``; values taken from ``patch`` are copied,
    so later changes to the result can never reach a rule's parameters."""
    if not isinstance(patch, dict):
        return _copy(patch)
    result: dict[str, JsonValue] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _copy(value: JsonValue) -> JsonValue:
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value
