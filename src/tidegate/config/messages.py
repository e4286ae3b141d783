"""Turn validation failures into the messages of config.md §2, one per problem, each naming its key:

    config: unknown key 'server.prot' (did you mean 'server.port'?)
    config: server.port: must be an integer between 1 and 65535 (got 'abc')

A value is quoted only when its field holds no secret, and URL passwords are masked even then."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tidegate.config._base import Problem, Problems, WrongType, mask_url
from tidegate.config.schema import Node, contains_secret, describe, model_keys

__all__ = ["Issue", "Key", "format_key", "issue", "suggest", "translate", "unknown_key"]

Key = tuple[str | int, ...]

_MAX_QUOTED = 100


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: ``key`` is the config key it concerns (``()`` when none), ``message`` the full line."""

    key: Key
    message: str


def format_key(key: Sequence[str | int]) -> str:
    """``providers[1].headers.Authorization``: dots between keys, brackets around list indexes."""
    text = ""
    for segment in key:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else segment
    return text


def issue(key: Key, text: str) -> Issue:
    return Issue(key, f"config: {format_key(key)}: {text}" if key else f"config: {text}")


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key(key: Key, parent: type[BaseModel] | None) -> Issue:
    name = key[-1]
    message = f"config: unknown key '{format_key(key)}'"
    if parent is not None and isinstance(name, str):
        match = suggest(name, model_keys(parent))
        if match is not None:
            message += f" (did you mean '{format_key((*key[:-1], match))}'?)"
    return Issue(key, message)


def _quoted(value: object) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, str):
        masked = mask_url(value)
        text = repr(masked if len(masked) <= _MAX_QUOTED else masked[:_MAX_QUOTED] + "...")
    elif isinstance(value, Mapping):
        text = "a mapping"
    elif isinstance(value, list | tuple):
        text = "a list"
    else:
        text = f"a {type(value).__name__}"
    return f" (got {text})"


def _walk(root: Node, loc: Sequence[str | int]) -> tuple[Key, list[Node | None]]:
    """The config key of a pydantic ``loc`` (union tags dropped) and the node of every prefix of it."""
    key: list[str | int] = []
    nodes: list[Node | None] = [root]
    node: Node | None = root
    for segment in loc:
        if node is not None and isinstance(segment, str) and segment in node.members():
            node = Node(node.members()[segment])
            nodes[-1] = node
            continue
        key.append(segment)
        node = node.child(segment) if node is not None else None
        nodes.append(node)
    return tuple(key), nodes


def _problems(base: Key, problems: Iterable[Problem]) -> list[Issue]:
    return [issue((*base, *p.key), p.message) for p in problems]


def _translate_one(root: Node, error: ErrorDetails, prefix: Key) -> list[Issue]:
    key, nodes = _walk(root, (*prefix, *error["loc"]))
    node = nodes[-1]
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = nodes[-2] if len(nodes) > 1 else None
        return [unknown_key(key, parent.model() if parent is not None else None)]
    if kind == "missing":
        return [issue(key, "required")]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        if kind == "union_tag_not_found":
            return [issue((*key, "type"), "required")]
        tags = ", ".join(f"'{t}'" for t in (node.members() if node is not None else {}))
        return [issue((*key, "type"), f"must be one of {tags}{_quoted(ctx.get('tag'))}")]
    cause = ctx.get("error")
    if isinstance(cause, Problems):
        return _problems(key, cause.problems)
    if isinstance(cause, Problem):
        return _problems(key, [cause])
    secret = node is None or contains_secret(node.annotation)
    got = "" if secret else _quoted(error["input"])
    if isinstance(cause, ValueError) and not isinstance(cause, WrongType):
        return [issue(key, f"{cause}{got}")]
    return [issue(key, (describe(node) if node is not None else "is invalid") + got)]


def translate(error: ValidationError, root: type[BaseModel], prefix: Key = ()) -> list[Issue]:
    """One issue per problem of ``error``; ``prefix`` is the key of what was validated, below ``root``."""
    issues: list[Issue] = []
    for detail in error.errors():
        issues.extend(_translate_one(Node(root), detail, prefix))
    return issues
