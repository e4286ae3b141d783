"""Walk the settings model tree by key: what type lives at ``server.cors.allowed_origins``, which keys a
mapping accepts, and how its rule reads. Error messages and environment overrides both need this."""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, SecretStr

from tidegate.config._base import Rule

__all__ = ["Node", "contains_secret", "describe", "model_keys", "unwrap"]


@dataclass(frozen=True, slots=True)
class Node:
    """A type in the tree plus the constraints attached to it (``Ge``, ``Le``, ``Rule``, ...)."""

    annotation: object
    metadata: tuple[object, ...] = ()

    def unwrapped(self) -> Node:
        return unwrap(self.annotation, self.metadata)

    def model(self) -> type[BaseModel] | None:
        tp = self.unwrapped().annotation
        return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None

    def members(self) -> dict[str, type[BaseModel]]:
        """A discriminated union of models by tag (``type`` value); empty for anything else."""
        tp = self.unwrapped().annotation
        if get_origin(tp) not in (Union, types.UnionType):
            return {}
        found = {}
        for member in get_args(tp):
            if not (isinstance(member, type) and issubclass(member, BaseModel)):
                return {}
            tag = get_args(member.model_fields["type"].annotation) if "type" in member.model_fields else ()
            for value in tag:
                found[str(value)] = member
        return found

    def child(self, segment: str | int) -> Node | None:
        """The node one key down: a model field (by config key), a list item or a mapping value."""
        model = self.model()
        if model is not None:
            for name, field in model.model_fields.items():
                if segment in (field.alias or name, name):
                    return Node(field.annotation, tuple(field.metadata))
            return None
        tp = self.unwrapped().annotation
        origin, args = get_origin(tp), get_args(tp)
        if origin in (list, tuple) and isinstance(segment, int) and args:
            return Node(args[0])
        if origin is dict and isinstance(segment, str) and len(args) == 2:
            return Node(args[1])
        return None


def unwrap(annotation: object, metadata: tuple[object, ...] = ()) -> Node:
    """Strip ``Annotated`` (collecting its metadata) and ``X | None`` down to the value's own type."""
    tp = annotation
    meta = list(metadata)
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            args = get_args(tp)
            tp = args[0]
            meta.extend(args[1:])
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                break
            tp = rest[0]
        else:
            break
    return Node(tp, tuple(meta))


def model_keys(model: type[BaseModel]) -> list[str]:
    """The config keys of a section or item: field aliases where set (``from``), else field names."""
    return [field.alias or name for name, field in model.model_fields.items()]


def contains_secret(annotation: object, _seen: frozenset[int] = frozenset()) -> bool:
    """True when a value of this type is, or holds, a secret; such values are never quoted."""
    tp = unwrap(annotation).annotation
    if tp is SecretStr:
        return True
    if id(tp) in _seen:
        return False
    seen = _seen | {id(tp)}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return any(contains_secret(f.annotation, seen) for f in tp.model_fields.values())
    return any(contains_secret(arg, seen) for arg in get_args(tp) if arg is not type(None))


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _range(metadata: tuple[object, ...]) -> str:
    low: object = None
    high: object = None
    low_open = high_open = False
    for item in metadata:
        if isinstance(item, at.Ge):
            low = item.ge
        elif isinstance(item, at.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, at.Le):
            high = item.le
        elif isinstance(item, at.Lt):
            high, high_open = item.lt, True
    if low is not None and high is not None and not (low_open or high_open):
        return f" between {_number(low)} and {_number(high)}"
    parts = []
    if low is not None:
        parts.append(f"{'greater than' if low_open else 'at least'} {_number(low)}")
    if high is not None:
        parts.append(f"{'less than' if high_open else 'at most'} {_number(high)}")
    return (" of " + " and ".join(parts)) if parts else ""


def _length(metadata: tuple[object, ...]) -> str:
    low = next((m.min_length for m in metadata if isinstance(m, at.MinLen)), None)
    high = next((m.max_length for m in metadata if isinstance(m, at.MaxLen)), None)
    if low is not None and high is not None:
        return f" of {low} to {high} items"
    if low is not None:
        return f" of at least {low} items"
    if high is not None:
        return f" of at most {high} items"
    return ""


def describe(node: Node) -> str:
    """The rule a value of this node must follow, as messages print it: ``must be an integer between ...``."""
    node = node.unwrapped()
    for item in node.metadata:
        if isinstance(item, Rule):
            return item.text
    tp, meta = node.annotation, node.metadata
    origin = get_origin(tp)
    if tp is bool:
        return "must be true or false"
    if tp is int:
        return "must be an integer" + _range(meta)
    if tp is float:
        return "must be a number" + _range(meta)
    if tp in (str, SecretStr):
        return "must be a string"
    if tp is Path:
        return "must be a path"
    if origin is Literal:
        return "must be one of " + ", ".join(f"'{v}'" for v in get_args(tp))
    if origin in (list, tuple):
        return "must be a list" + _length(meta)
    if origin is dict or node.model() is not None or node.members():
        return "must be a mapping"
    return "is invalid"
