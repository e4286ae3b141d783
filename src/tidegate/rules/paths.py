"""Field paths (rules.md §5) and key paths (§9): validated once at load, resolved by small callables.

A resolved value of ``None`` means *absent*: a path that does not resolve and a JSON ``null`` behave the
same (§6). Key paths feed the identities of throttle counters, group keys and fingerprints, so their
text form and hash are defined here, once, for every feature that needs them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import TypeAlias, cast
from zoneinfo import ZoneInfo

from tidegate.model.action import Action
from tidegate.model.json import JsonValue, dumps, dumps_sorted
from tidegate.model.time import format_ts
from tidegate.rules.context import EvalContext

__all__ = [
    "ActionGetter",
    "PathError",
    "Resolver",
    "canonical_text",
    "compile_field",
    "compile_key_path",
    "key_hash",
    "key_value",
    "normalize_key_path",
    "walk",
]

Resolver: TypeAlias = Callable[[EvalContext], JsonValue]
ActionGetter: TypeAlias = Callable[[Action], JsonValue]
Step: TypeAlias = tuple[str, int]  # (member name, array index or -1 when not all ASCII digits)

_STRING_FIELDS = ("id", "namespace", "tenant", "provider", "action_type")
_OPTIONAL_FIELDS = ("dedup_key", "status", "fingerprint")
_TIME_FIELDS = ("created_at", "starts_at", "ends_at")
_LOCAL_FIELDS = ("year", "month", "day", "hour", "minute", "second", "weekday", "weekday_num")
_KEY_FIELDS = frozenset(
    ("namespace", "tenant", "provider", "action_type", "id", "status", "fingerprint", "dedup_key")
)


class PathError(ValueError):
    """A path that cannot be used; the text is the reason of a §10 message (``unknown field '...'``)."""


def walk(value: JsonValue, steps: Sequence[Step]) -> JsonValue:
    """Walk into a JSON value one segment at a time (§5); ``None`` when a step does not resolve."""
    for name, index in steps:
        if isinstance(value, dict):
            value = value.get(name)
        elif isinstance(value, list):
            if index < 0 or index >= len(value):
                return None
            value = value[index]
        else:
            return None
    return value


def canonical_text(value: JsonValue) -> str:
    """Compact JSON with sorted keys; never raises (orjson rejects integers beyond 64 bits)."""
    try:
        return dumps_sorted(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _steps(segments: Sequence[str]) -> tuple[Step, ...]:
    return tuple((seg, int(seg) if seg.isascii() and seg.isdigit() else -1) for seg in segments)


def _split(text: str) -> list[str]:
    segments = text.split(".")
    if any(not seg for seg in segments):
        raise PathError(f"empty segment in field '{text}'")
    return segments


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def _action_getter(segments: Sequence[str]) -> ActionGetter | None:
    """The getter for ``action.<segments>``, or None when the field does not exist (§5)."""
    head, rest = segments[0], segments[1:]
    if head in _STRING_FIELDS or head in _OPTIONAL_FIELDS:
        return None if rest else attrgetter(head)
    if head in _TIME_FIELDS:
        if rest:
            return None
        get_time = attrgetter(head)
        return lambda action: _ts(get_time(action))
    if head == "metadata":
        if not rest:
            return lambda action: cast(JsonValue, action.metadata)
        label = ".".join(rest)
        return lambda action: action.metadata.get(label)
    if head == "payload":
        if not rest:
            return attrgetter("payload")
        steps = _steps(rest)
        if len(steps) == 1:
            name, index = steps[0]
            return lambda action: _one_step(action.payload, name, index)
        return lambda action: walk(action.payload, steps)
    return None


def _one_step(value: JsonValue, name: str, index: int) -> JsonValue:
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, list) and 0 <= index < len(value):
        return value[index]
    return None


def _direct_resolver(segments: Sequence[str]) -> Resolver | None:
    """One-call resolvers for the hot cases (plain fields, labels, payload members); None otherwise."""
    head, rest = segments[0], segments[1:]
    if head in _STRING_FIELDS or head in _OPTIONAL_FIELDS:
        return None if rest else attrgetter(f"action.{head}")
    if head == "metadata" and rest:
        label = ".".join(rest)
        return lambda ctx: ctx.action.metadata.get(label)
    if head == "payload" and rest:
        steps = _steps(rest)
        if len(steps) == 1:
            name, index = steps[0]
            return lambda ctx: _one_step(ctx.action.payload, name, index)
        return lambda ctx: walk(ctx.action.payload, steps)
    return None


def compile_field(text: str, zone: ZoneInfo, *, action_only: bool = False) -> Resolver:
    """Validate a field path and return its resolver; ``zone`` is the rule's zone for ``time.*``.

    Raises PathError for empty segments, an unknown root or an unknown field (typos fail at load)."""
    segments = _split(text)
    root, rest = segments[0], segments[1:]
    if root == "action" and rest:
        direct = _direct_resolver(rest)
        if direct is not None:
            return direct
        getter = _action_getter(rest)
        if getter is not None:
            return lambda ctx: getter(ctx.action)
    elif not action_only and root == "time" and len(rest) == 1:
        field = rest[0]
        if field == "timestamp":
            return attrgetter("timestamp")
        if field in _LOCAL_FIELDS:
            get_local = attrgetter(field)
            return lambda ctx: get_local(ctx.local(zone))
    elif not action_only and root == "now" and not rest:
        return attrgetter("timestamp")
    raise PathError(f"unknown field '{text}'")


def normalize_key_path(text: str) -> str:
    """The key path without its optional ``action.`` prefix; PathError for anything §9 does not list."""
    return compile_key_path(text)[0]


@lru_cache(maxsize=4096)
def compile_key_path(text: str) -> tuple[str, ActionGetter]:
    """``(normalized path, getter)``; cached, because the gateway resolves the same few paths per dispatch."""
    normalized = text.removeprefix("action.")
    segments = normalized.split(".")
    if not all(segments):
        raise PathError(f"empty segment in field '{text}'")
    head = segments[0]
    valid = (len(segments) == 1 and head in _KEY_FIELDS) or (
        len(segments) > 1 and head in ("metadata", "payload")
    )
    getter = _action_getter(segments) if valid else None
    if getter is None:
        raise PathError(f"unknown field '{text}'")
    return normalized, getter


def key_value(action: Action, path: str) -> str:
    """The §9 text of a key path: strings as is, other values as sorted compact JSON, absent as ``""``."""
    value = compile_key_path(path)[1](action)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return canonical_text(value)


def key_hash(action: Action, paths: Sequence[str]) -> str:
    """SHA-256 hex of the compact JSON ``[[path, value], ...]`` (features.md §4, §14).

    Paths appear normalized (without ``action.``), in the given order: the order is part of the key."""
    pairs = [[compile_key_path(path)[0], key_value(action, path)] for path in paths]
    return hashlib.sha256(dumps(pairs)).hexdigest()
