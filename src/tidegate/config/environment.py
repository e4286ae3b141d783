"""``TIDEGATE_<SECTION>__<KEY>[__<KEY>...]`` overrides (config.md §1), applied to the parsed file data.

Levels are separated by ``__`` and matched case-insensitively against the schema. A digit segment indexes
a list element that exists; a mapping key (``circuit_breaker.providers.EMAIL``) matches an existing key or
a provider name case-insensitively, else it is taken in lower case. Values are JSON when they parse as
JSON, else the raw string; a string-typed key keeps the raw text of ``123`` or ``true``."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal, get_args, get_origin

from pydantic import SecretStr

from tidegate.config.messages import Issue, format_key, suggest
from tidegate.config.providers import DEFAULT_PROVIDERS
from tidegate.config.schema import Node, model_keys
from tidegate.config.settings import Settings
from tidegate.config.sources import CONFIG_VARIABLE

__all__ = ["PREFIX", "apply_environment"]

PREFIX = "TIDEGATE_"
_SEPARATOR = "__"


class _NoKey(Exception):
    """The variable names no key; ``detail`` says why, ``candidates`` feed the suggestion."""

    def __init__(self, index: int, detail: str = "", candidates: Collection[str] = ()) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail
        self.candidates = candidates


def apply_environment(
    data: dict[str, object], env: Mapping[str, str], skip: Collection[str] = ()
) -> list[Issue]:
    """Set every ``TIDEGATE_*`` variable of ``env`` into ``data`` (in place); one issue per unusable one.

    ``TIDEGATE_CONFIG`` and the variables in ``skip`` (those referenced as ``${NAME}``) are not overrides."""
    issues = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper == CONFIG_VARIABLE or name in skip:
            continue
        segments = name[len(PREFIX) :].split(_SEPARATOR)
        try:
            _set(data, segments, env[name])
        except _NoKey as exc:
            issues.append(_unknown(name, segments, exc))
    return issues


def _unknown(name: str, segments: list[str], exc: _NoKey) -> Issue:
    if exc.detail:
        return Issue((), f"config: environment variable '{name}' maps to no key ({exc.detail})")
    message = f"config: unknown environment variable '{name}'"
    match = suggest(segments[exc.index].lower(), exc.candidates)
    if match is not None:
        fixed = [*segments[: exc.index], match, *segments[exc.index + 1 :]]
        message += f" (did you mean '{PREFIX}{_SEPARATOR.join(s.upper() for s in fixed)}'?)"
    return Issue((), message)


def _set(data: dict[str, object], segments: list[str], raw: str) -> None:
    node = Node(Settings)
    container: dict[str, object] | list[object] = data
    path: list[str | int] = []
    for index, segment in enumerate(segments):
        key, child = _step(node, container, segment, index, path, data)
        path.append(key)
        if index == len(segments) - 1:
            _assign(container, key, _parse(raw, child))
            return
        container, node = _descend(container, key, child, index, path)


def _step(
    node: Node,
    container: dict[str, object] | list[object],
    segment: str,
    index: int,
    path: list[str | int],
    data: dict[str, object],
) -> tuple[str | int, Node]:
    model = node.model()
    if model is not None:
        keys = model_keys(model)
        key = next((k for k in keys if k.lower() == segment.lower()), None)
        child = node.child(key) if key is not None else None
        if key is None or child is None:
            raise _NoKey(index, candidates=keys)
        return key, child
    if isinstance(container, list):
        if not segment.isdigit():
            raise _NoKey(index)
        position = int(segment)
        if position >= len(container):
            raise _NoKey(index, f"{format_key(path)} has no element {position}")
        return position, node.child(position) or Node(object)
    child = node.child(segment)
    if child is None:
        raise _NoKey(index)
    existing = [*container, *(_provider_names(data) if path == ["circuit_breaker", "providers"] else [])]
    key = next((k for k in existing if k.lower() == segment.lower()), segment.lower())
    return key, child


def _descend(
    container: dict[str, object] | list[object],
    key: str | int,
    child: Node,
    index: int,
    path: list[str | int],
) -> tuple[dict[str, object] | list[object], Node]:
    """The container one level down, created when absent (the default providers list for ``providers``)."""
    origin = get_origin(child.unwrapped().annotation)
    wants_list = origin in (list, tuple)
    if not wants_list and origin is not dict and child.model() is None and not child.members():
        raise _NoKey(index + 1)  # a plain value has no keys below it
    if isinstance(container, list) and isinstance(key, int):
        value = container[key]
    elif isinstance(container, dict) and isinstance(key, str):
        value = container.get(key)
        if value is None:
            value = (
                [dict(p) for p in DEFAULT_PROVIDERS] if path == ["providers"] else [] if wants_list else {}
            )
            container[key] = value
    else:
        raise _NoKey(index)
    if wants_list and isinstance(value, list):
        return value, child
    if not wants_list and isinstance(value, dict):
        members = child.members()
        if members:
            member = members.get(str(value.get("type")))
            if member is None:
                raise _NoKey(index, f"{format_key(path)} has no valid type")
            return value, Node(member)
        return value, child
    raise _NoKey(index, f"{format_key(path)} is not a {'list' if wants_list else 'mapping'}")


def _assign(container: dict[str, object] | list[object], key: str | int, value: object) -> None:
    if isinstance(container, list):
        if isinstance(key, int):
            container[key] = value
    elif isinstance(key, str):
        container[key] = value


def _provider_names(data: Mapping[str, object]) -> list[str]:
    providers = data.get("providers", DEFAULT_PROVIDERS)
    if not isinstance(providers, list | tuple):
        return []
    return [p["name"] for p in providers if isinstance(p, dict) and isinstance(p.get("name"), str)]


def _is_text(node: Node) -> bool:
    tp = node.unwrapped().annotation
    if tp in (str, SecretStr, Path):
        return True
    return get_origin(tp) is Literal and all(isinstance(v, str) for v in get_args(tp))


def _parse(raw: str, node: Node) -> object:
    try:
        value: object = json.loads(raw)
    except ValueError:
        return raw
    if _is_text(node) and isinstance(value, bool | int | float):
        return raw  # a secret or name made of digits stays text
    return value
