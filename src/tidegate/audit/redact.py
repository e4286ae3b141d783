"""Payload redaction (features.md §11, security.md §7): hide configured members before a payload is stored.

An entry without ``.`` is a member name, matched case-insensitively at any depth, inside arrays too. An
entry with ``.`` is a path from the payload root (digit segments index arrays) and hides only that
member; its segments are matched case-insensitively as well, so a path never leaks what a name would
hide. The entry list is compiled once into a ``Redactor``, because it runs on every dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tidegate.model.json import JsonValue

__all__ = ["Redactor", "redact_payload"]


@dataclass(slots=True)
class _PathNode:
    """One segment of the path trie; ``hide`` marks the end of an entry."""

    hide: bool = False
    children: dict[str, _PathNode] = field(default_factory=dict)


class Redactor:
    """``redactor(payload)`` returns a redacted copy and never changes its input.

    With no entries the payload itself is returned: nothing would change, so nothing is copied."""

    __slots__ = ("_names", "_paths", "_placeholder")

    def __init__(self, fields: Sequence[str], placeholder: str) -> None:
        self._placeholder = placeholder
        self._names = frozenset(entry.casefold() for entry in fields if "." not in entry)
        self._paths: _PathNode | None = None
        for entry in fields:
            if "." in entry:
                node = self._paths = self._paths or _PathNode()
                for segment in entry.casefold().split("."):
                    node = node.children.setdefault(segment, _PathNode())
                node.hide = True

    @property
    def is_active(self) -> bool:
        return bool(self._names) or self._paths is not None

    def __call__(self, payload: JsonValue) -> JsonValue:
        if not self.is_active:
            return payload
        return self._redact(payload, self._paths)

    def _redact(self, value: JsonValue, path: _PathNode | None) -> JsonValue:
        if isinstance(value, dict):
            result: dict[str, JsonValue] = {}
            for name, member in value.items():
                folded = name.casefold()
                child = path.children.get(folded) if path is not None else None
                if folded in self._names or (child is not None and child.hide):
                    result[name] = self._placeholder
                else:
                    result[name] = self._redact(member, child)
            return result
        if isinstance(value, list):
            items: list[JsonValue] = []
            for index, item in enumerate(value):
                child = path.children.get(str(index)) if path is not None else None
                items.append(
                    self._placeholder if child is not None and child.hide else self._redact(item, child)
                )
            return items
        return value


def redact_payload(payload: JsonValue, fields: Sequence[str], placeholder: str) -> JsonValue:
    """One-off form of ``Redactor(fields, placeholder)(payload)``."""
    return Redactor(fields, placeholder)(payload)
