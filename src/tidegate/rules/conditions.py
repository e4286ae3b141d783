"""The condition tree of rules.md §4, compiled at load into nested predicate closures.

Compilation validates every node and collects every problem with its key path (§10); evaluation then
only calls closures: paths are resolved by prebuilt getters and regexes are compiled once. A predicate
never raises, except that an injected ``semantic`` matcher may raise to fail the dispatch (§8)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, cast
from zoneinfo import ZoneInfo

from tidegate.model.json import JsonValue
from tidegate.rules.context import EvalContext
from tidegate.rules.errors import Problem
from tidegate.rules.operators import OPERATORS, OperatorError, ValueTest, build_test
from tidegate.rules.paths import PathError, Resolver, canonical_text, compile_field

__all__ = [
    "MAX_DEPTH",
    "SHAPES",
    "UNSUPPORTED_CONDITIONS",
    "CompiledCondition",
    "Predicate",
    "compile_condition",
]

Predicate: TypeAlias = Callable[[EvalContext], bool]

MAX_DEPTH = 16
MAX_TOPIC_LENGTH = 1024
DEFAULT_THRESHOLD = 0.8
SHAPES = ("all", "any", "not", "field", "semantic_match")
_SHAPE_LIST = ", ".join(SHAPES)
_SEMANTIC_KEYS = frozenset(("semantic_match", "threshold", "text_field"))

#: Condition kinds of Acteon and its documentation that Tidegate refuses loudly (§13).
UNSUPPORTED_CONDITIONS: Mapping[str, str] = {
    "cel": "CEL conditions are not supported",
    "state_seen": "state_seen conditions are not supported",
    "state_counter": "state_counter conditions are not supported",
    "wasm_plugin": "WASM plugin conditions are not supported",
    "call": "expression functions (call, e.g. has_active_event inhibition) are not supported",
    "has_active_event": "inhibition (has_active_event) is not supported",
}


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A compiled condition; ``topics`` are its ``semantic_match`` topics, embedded after each load, and
    ``default_thresholds`` the paths of those without an explicit ``threshold`` (the default suits some
    models and never matches with others, so loaders warn about them)."""

    test: Predicate
    topics: tuple[str, ...] = ()
    default_thresholds: tuple[str, ...] = ()


def compile_condition(
    raw: object, *, zone: ZoneInfo, embedding_enabled: bool, path: str = "condition"
) -> tuple[CompiledCondition | None, list[Problem]]:
    """Compile one rule's condition; the result is None exactly when problems were found."""
    compiler = _Compiler(zone, embedding_enabled)
    test = compiler.node(raw, path, 1)
    if compiler.too_deep:
        compiler.problems.append((path, f"nesting deeper than {MAX_DEPTH}"))
    if compiler.problems or test is None:
        return None, compiler.problems
    return CompiledCondition(test, tuple(compiler.topics), tuple(compiler.default_thresholds)), []


def _all(tests: Sequence[Predicate]) -> Predicate:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda ctx: first(ctx) and second(ctx)

    def test_all(ctx: EvalContext) -> bool:
        for test in tests:  # noqa: SIM110 - a plain loop allocates no generator per evaluation
            if not test(ctx):
                return False
        return True

    return test_all


def _any(tests: Sequence[Predicate]) -> Predicate:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda ctx: first(ctx) or second(ctx)

    def test_any(ctx: EvalContext) -> bool:
        for test in tests:  # noqa: SIM110 - a plain loop allocates no generator per evaluation
            if test(ctx):
                return True
        return False

    return test_any


def _field(resolve: Resolver, tests: Sequence[ValueTest], ops: Mapping[str, JsonValue]) -> Predicate:
    if len(tests) == 1:
        operand = ops.get("eq")
        if isinstance(operand, str):
            # The most common predicate, fused: only a string can equal a string, so no type check.
            return lambda ctx: resolve(ctx) == operand
        only = tests[0]
        return lambda ctx: only(resolve(ctx))

    def test_field(ctx: EvalContext) -> bool:
        value = resolve(ctx)
        for test in tests:  # noqa: SIM110 - a plain loop allocates no generator per evaluation
            if not test(value):
                return False
        return True

    return test_field


def _semantic(topic: str, threshold: float, resolve: Resolver | None) -> Predicate:
    def test_semantic(ctx: EvalContext) -> bool:
        matcher = ctx.semantic
        if matcher is None:
            return False
        if resolve is None:
            text = canonical_text(ctx.action.payload)
        else:
            value = resolve(ctx)
            if value is None:
                return False
            text = value if isinstance(value, str) else canonical_text(value)
        if not text:
            return False
        return matcher(text, topic, threshold)

    return test_semantic


class _Compiler:
    def __init__(self, zone: ZoneInfo, embedding_enabled: bool) -> None:
        self.zone = zone
        self.embedding_enabled = embedding_enabled
        self.problems: list[Problem] = []
        self.topics: list[str] = []
        self.default_thresholds: list[str] = []
        self.too_deep = False

    def node(self, raw: object, path: str, depth: int) -> Predicate | None:
        if depth > MAX_DEPTH:
            self.too_deep = True
            return None
        if not isinstance(raw, dict):
            self.problems.append((path, "must be a mapping"))
            return None
        refused = [key for key in raw if key in UNSUPPORTED_CONDITIONS]
        if refused:
            self.problems.extend((f"{path}.{key}", UNSUPPORTED_CONDITIONS[key]) for key in refused)
            return None
        shapes = [key for key in SHAPES if key in raw]
        if len(shapes) != 1:
            self.problems.append((path, f"exactly one of {_SHAPE_LIST} expected"))
            return None
        shape = shapes[0]
        if shape in ("all", "any"):
            return self._group(shape, raw, path, depth)
        if shape == "not":
            bad = self._unknown_keys(raw, path, {"not"})
            inner = self.node(raw["not"], f"{path}.not", depth + 1)
            return None if inner is None or bad else (lambda ctx: not inner(ctx))
        if shape == "field":
            return self._field(raw, path)
        return self._semantic(raw, path)

    def _unknown_keys(self, raw: Mapping[str, object], path: str, allowed: Collection[str]) -> bool:
        unknown = [key for key in raw if not (isinstance(key, str) and key in allowed)]
        self.problems.extend((f"{path}.{key}", "unknown key") for key in unknown)
        return bool(unknown)

    def _group(self, shape: str, raw: Mapping[str, object], path: str, depth: int) -> Predicate | None:
        bad = self._unknown_keys(raw, path, {shape})
        items = raw[shape]
        if not isinstance(items, list):
            self.problems.append((f"{path}.{shape}", "must be a list"))
            return None
        tests = [self.node(item, f"{path}.{shape}[{i}]", depth + 1) for i, item in enumerate(items)]
        compiled = [test for test in tests if test is not None]
        if bad or len(compiled) != len(tests):
            return None
        return _all(compiled) if shape == "all" else _any(compiled)

    def _field(self, raw: Mapping[str, object], path: str) -> Predicate | None:
        ok = True
        resolve: Resolver | None = None
        field = raw["field"]
        if not isinstance(field, str):
            self.problems.append((f"{path}.field", "must be a string"))
        else:
            try:
                resolve = compile_field(field, self.zone)
            except PathError as exc:
                self.problems.append((f"{path}.field", str(exc)))
        ops = [key for key in raw if key != "field"]
        if not ops:
            self.problems.append((path, "no operator"))
            return None
        tests: list[ValueTest] = []
        operands: dict[str, JsonValue] = {}
        for op in ops:
            if not (isinstance(op, str) and op in OPERATORS):
                self.problems.append((f"{path}.{op}", "unknown key"))
                ok = False
                continue
            operands[op] = _json(raw[op])
            try:
                tests.append(build_test(op, operands[op]))
            except OperatorError as exc:
                self.problems.append((f"{path}.{op}", str(exc)))
                ok = False
        if not ok or resolve is None:
            return None
        return _field(resolve, tests, operands)

    def _semantic(self, raw: Mapping[str, object], path: str) -> Predicate | None:
        bad = self._unknown_keys(raw, path, _SEMANTIC_KEYS)
        before = len(self.problems)
        topic = raw["semantic_match"]
        if not self.embedding_enabled:
            self.problems.append((f"{path}.semantic_match", "requires embedding.enabled = true"))
        if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
            reason = f"must be a non-empty string of at most {MAX_TOPIC_LENGTH} characters"
            self.problems.append((f"{path}.semantic_match", reason))
        threshold = _threshold(raw.get("threshold", DEFAULT_THRESHOLD))
        if threshold is None:
            self.problems.append((f"{path}.threshold", "must be a number between 0.0 and 1.0"))
        resolve = self._text_field(raw, f"{path}.text_field")
        if bad or len(self.problems) != before or not isinstance(topic, str) or threshold is None:
            return None
        self.topics.append(topic)
        if "threshold" not in raw:
            self.default_thresholds.append(path)
        return _semantic(topic, threshold, resolve)

    def _text_field(self, raw: Mapping[str, object], path: str) -> Resolver | None:
        """None without ``text_field`` (the text is the payload); an explicit null is an error, as for
        ``threshold``: a blank ``text_field:`` must not silently compare the whole payload."""
        if "text_field" not in raw:
            return None
        text_field = raw["text_field"]
        if not isinstance(text_field, str):
            self.problems.append((path, "must be a string"))
            return None
        if not text_field.startswith("action."):
            self.problems.append((path, f"must be an action.* path, not '{text_field}'"))
            return None
        try:
            return compile_field(text_field, self.zone, action_only=True)
        except PathError as exc:
            self.problems.append((path, str(exc)))
            return None


def _threshold(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None
    return float(value)


def _json(value: object) -> JsonValue:
    """Values reaching the compiler passed the loader's JSON check; this only narrows the type."""
    return cast(JsonValue, value)
