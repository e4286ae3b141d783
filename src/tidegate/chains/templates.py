"""Payload templates of chain steps (features.md §16 "Templates"): checked once, rendered per attempt.

Pure: rendering takes a ``TemplateContext`` of plain JSON values and returns JSON. This module imports
only ``model`` so the config loader can validate templates at startup without a cycle; its path walk is
rules.md §5's (members by name, array items by all-digit segments)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

import orjson

from tidegate.model.json import JsonValue

__all__ = ["StepResult", "TemplateContext", "expression_problem", "render", "template_problems"]

_OPEN, _CLOSE = "{{", "}}"
_ORIGIN_FIELDS = frozenset({"id", "namespace", "tenant", "provider", "action_type"})
_MISSING = object()


@dataclass(frozen=True, slots=True)
class StepResult:
    """What templates and branches see of a step's last result."""

    status: str  # success | failure | partial
    body: JsonValue = None


@dataclass(frozen=True, slots=True)
class TemplateContext:
    """``origin`` is the origin action's JSON form (``Action.to_json``); ``steps`` only steps that ran."""

    origin: Mapping[str, JsonValue]
    chain_id: str
    chain_name: str
    step_index: int
    step_names: Collection[str]
    prev: tuple[str, StepResult] | None = None
    steps: Mapping[str, StepResult] = field(default_factory=dict)


# -- parsing ------------------------------------------------------------------------------------


def _segments(text: str) -> Iterator[tuple[bool, str]]:
    """``(is_expression, text)`` pieces; ``{{`` without a closing ``}}`` is literal text."""
    position = 0
    while True:
        start = text.find(_OPEN, position)
        end = text.find(_CLOSE, start + 2) if start >= 0 else -1
        if start < 0 or end < 0:
            if position < len(text):
                yield False, text[position:]
            return
        if start > position:
            yield False, text[position:start]
        yield True, text[start + 2 : end].strip()
        position = end + 2


def _whole(text: str) -> str | None:
    """The expression when the string is exactly one template (surrounding whitespace ignored)."""
    pieces = list(_segments(text.strip()))
    if len(pieces) == 1 and pieces[0][0]:
        return pieces[0][1]
    return None


def _step_ref(rest: str, step_names: Collection[str]) -> tuple[str, str] | None:
    """Split ``NAME.tail`` where NAME (which may contain dots) is the longest matching step name."""
    for name in sorted(step_names, key=len, reverse=True):
        if rest.startswith(name + "."):
            return name, rest[len(name) + 1 :]
    return None


def _result_path_ok(tail: str) -> bool:
    return tail == "status" or tail == "body" or (tail.startswith("body.") and _path_ok(tail[5:]))


def _path_ok(path: str) -> bool:
    return all(path.split("."))


def expression_problem(expr: str, step_names: Collection[str], own_step: str | None = None) -> str | None:
    """Why ``expr`` can never resolve (unknown root, or a ``steps.NAME`` that is no other step), else None."""
    if expr in ("chain_id", "chain_name", "step_index"):
        return None
    root, _, rest = expr.partition(".")
    if root == "origin":
        head, _, tail = rest.partition(".")
        if head in _ORIGIN_FIELDS and not tail:
            return None
        if head == "payload" and (not tail or _path_ok(tail)):
            return None
        if head == "metadata":
            return None
        return f"unknown template expression '{expr}'"
    if root == "prev":
        if rest == "step_name" or _result_path_ok(rest):
            return None
        return f"unknown template expression '{expr}'"
    if root == "steps":
        ref = _step_ref(rest, step_names)
        if ref is None and rest in step_names:  # a known step without ``.status`` / ``.body``
            return f"unknown template expression '{expr}'"
        if ref is None:
            name = rest.rsplit(".", 1)[0] if "." in rest else rest
            return f"unknown step '{name}' in template expression '{expr}'"
        name, tail = ref
        if name == own_step:
            return f"template expression '{expr}' names its own step"
        if not _result_path_ok(tail):
            return f"unknown template expression '{expr}'"
        return None
    return f"unknown template root '{root}' in '{expr}'"


def template_problems(
    template: JsonValue, step_names: Collection[str], own_step: str | None = None
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every bad expression in ``template``: ``(key path inside the template, message)``."""
    found: list[tuple[tuple[str | int, ...], str]] = []

    def visit(value: JsonValue, path: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            for is_expr, text in _segments(value):
                if is_expr:
                    problem = expression_problem(text, step_names, own_step)
                    if problem is not None:
                        found.append((path, problem))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, (*path, index))
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, (*path, key))

    visit(template, ())
    return found


# -- rendering ----------------------------------------------------------------------------------


def _walk(value: JsonValue | object, path: str) -> JsonValue | object:
    if not path:
        return value
    for segment in path.split("."):
        if isinstance(value, dict):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and segment.isascii() and segment.isdigit():
            index = int(segment)
            value = value[index] if index < len(value) else _MISSING
        else:
            return _MISSING
    return value


def _result_value(result: StepResult, tail: str) -> JsonValue | object:
    if tail == "status":
        return result.status
    if tail == "body":
        return result.body
    return _walk(result.body, tail[5:])


def _resolve(expr: str, ctx: TemplateContext) -> JsonValue | object:
    if expr == "chain_id":
        return ctx.chain_id
    if expr == "chain_name":
        return ctx.chain_name
    if expr == "step_index":
        return ctx.step_index
    root, _, rest = expr.partition(".")
    if root == "origin":
        head, _, tail = rest.partition(".")
        if head in _ORIGIN_FIELDS and not tail:
            return ctx.origin.get(head, _MISSING)
        if head == "payload":
            return _walk(ctx.origin.get("payload"), tail)
        if head == "metadata":
            labels = ctx.origin.get("metadata")
            if not tail:
                return labels
            return labels.get(tail, _MISSING) if isinstance(labels, dict) else _MISSING
        return _MISSING
    if root == "prev":
        if ctx.prev is None:
            return _MISSING
        name, result = ctx.prev
        return name if rest == "step_name" else _result_value(result, rest)
    if root == "steps":
        ref = _step_ref(rest, ctx.step_names)
        if ref is None or ref[0] not in ctx.steps:
            return _MISSING
        return _result_value(ctx.steps[ref[0]], ref[1])
    return _MISSING


def _text(value: JsonValue | object) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _render_string(text: str, ctx: TemplateContext) -> JsonValue:
    if _OPEN not in text:
        return text
    whole = _whole(text)
    if whole is not None:
        value = _resolve(whole, ctx)
        return None if value is _MISSING else value  # type: ignore[return-value]
    return "".join(_text(_resolve(piece, ctx)) if is_expr else piece for is_expr, piece in _segments(text))


def render(template: JsonValue, ctx: TemplateContext) -> JsonValue:
    """The payload for one step attempt: every string rendered, recursively; object keys stay as they are."""
    if isinstance(template, str):
        return _render_string(template, ctx)
    if isinstance(template, list):
        return [render(item, ctx) for item in template]
    if isinstance(template, dict):
        return {key: render(item, ctx) for key, item in template.items()}
    return template
