"""Strict YAML for rule files (rules.md §1): one document, no duplicate keys, JSON-compatible values only.

PyYAML's safe loader keeps the last of two equal keys and builds dates, sets and binary values. Here a
duplicate key is recorded with its line, and any value JSON cannot hold becomes a ``NonJson`` marker;
``non_json_problems`` later reports each marker at its key path inside the rule ("quote it")."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

__all__ = ["NonJson", "YamlDocument", "non_json_problems", "parse_document"]


@dataclass(eq=False, frozen=True, slots=True)
class NonJson:
    """A YAML value with no JSON form; ``kind`` names it in the error (``timestamp``, ``set``, a tag)."""

    kind: str


@dataclass(slots=True)
class YamlDocument:
    """The parsed content (None for an empty file) and the file-level errors found while parsing."""

    data: object = None
    errors: list[str] = field(default_factory=list)


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.duplicate_keys: list[tuple[int, str]] = []

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[object] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<` merges may be overridden by explicit keys; that is no duplicate
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # unhashable: the base constructor reports it with its position
                if duplicate:
                    line = key_node.start_mark.line + 1
                    self.duplicate_keys.append((line, f"line {line}: duplicate key '{key}'"))
        return super().construct_mapping(node, deep=deep)


def _marker(kind: str) -> Callable[[yaml.SafeLoader, Node], NonJson]:
    def construct(loader: yaml.SafeLoader, node: Node) -> NonJson:
        return NonJson(kind)

    return construct


def _construct_undefined(loader: yaml.SafeLoader, node: Node) -> NonJson:
    return NonJson(str(node.tag))


def _construct_equals_sign(loader: yaml.SafeLoader, node: ScalarNode) -> str:
    """YAML 1.1 resolves a bare ``=`` to the ``value`` tag; it is just the string ``"="``."""
    return str(loader.construct_scalar(node))


def _construct_float(loader: yaml.SafeLoader, node: ScalarNode) -> float | NonJson:
    value = loader.construct_yaml_float(node)
    return value if math.isfinite(value) else NonJson("non-finite number")


for _kind in ("timestamp", "binary", "set", "omap", "pairs"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_kind}", _marker(_kind))
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:value", _construct_equals_sign)
_StrictLoader.add_constructor(None, _construct_undefined)


def _where(text: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            return problem
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"line {line}, column {column}: unacceptable character #x{character:04x}: {exc.reason}"
    return str(exc)


def parse_document(text: str) -> YamlDocument:
    """Parse one file's text; a syntax error or a second document is the file's only error."""
    try:
        loader = _StrictLoader(text)
    except yaml.YAMLError as exc:
        return YamlDocument(errors=[_where(text, exc)])
    try:
        node = loader.compose_document() if loader.check_node() else None  # check_node drops stream start
        if not loader.check_event(yaml.StreamEndEvent):
            return YamlDocument(errors=["only one YAML document per file is allowed"])
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        return YamlDocument(errors=[_where(text, exc)])
    except RecursionError:
        return YamlDocument(errors=["YAML nesting is too deep"])
    finally:
        loader.dispose()
    return YamlDocument(data, [message for _, message in sorted(loader.duplicate_keys)])


def non_json_problems(value: object, path: str) -> list[tuple[str, str]]:
    """Every ``NonJson`` marker, non-string mapping key and alias cycle below ``value``, with key paths.

    Subtrees shared through aliases are checked once, so a "billion laughs" file costs linear time."""
    problems: list[tuple[str, str]] = []
    clean: set[int] = set()
    _scan(value, path, problems, clean, set())
    return problems


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _scan(
    value: object, path: str, problems: list[tuple[str, str]], clean: set[int], active: set[int]
) -> None:
    if isinstance(value, NonJson):
        problems.append((path, f"unsupported YAML value ({value.kind}); quote it"))
        return
    if not isinstance(value, dict | list) or id(value) in clean:
        return
    if id(value) in active:
        problems.append((path, "recursive YAML alias"))
        return
    before = len(problems)
    active.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, NonJson):
                problems.append((path, f"unsupported YAML value ({key.kind}) as a mapping key; quote it"))
            elif not isinstance(key, str):
                problems.append((_join(path, key), f"mapping key {key!r} is not a string; quote it"))
            _scan(item, _join(path, key), problems, clean, active)
    else:
        for index, item in enumerate(value):
            _scan(item, f"{path}[{index}]", problems, clean, active)
    active.discard(id(value))
    if len(problems) == before:
        clean.add(id(value))
