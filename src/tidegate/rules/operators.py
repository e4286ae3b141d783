"""The field operators of rules.md §7 with the value rules of §6, built once per predicate at load.

Each builder checks the operand's type (a wrong type is a load error naming the operator) and returns a
test of the resolved field value, where ``None`` means absent. A test never raises: a type mismatch is
simply false. Numbers compare by value (``5`` equals ``5.0``), booleans are not numbers, strings are never
converted, and equality is deep."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeAlias, TypeGuard

from tidegate.model.json import JsonValue

__all__ = ["MAX_PATTERN_LENGTH", "OPERATORS", "OperatorError", "ValueTest", "build_test", "deep_equal"]

ValueTest: TypeAlias = Callable[[JsonValue], bool]

OPERATORS = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "in_list",
    "exists",
)
MAX_PATTERN_LENGTH = 1024


class OperatorError(ValueError):
    """The operand is unusable; the text is the reason of a §10 message (the caller adds the key path)."""


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def deep_equal(left: JsonValue, right: JsonValue) -> bool:
    """§6 equality: numeric across int/float, bool only equal to bool, lists and mappings item by item."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float):
        return isinstance(right, int | float) and left == right
    if isinstance(left, str):
        return isinstance(right, str) and left == right
    if left is None:
        return right is None
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(deep_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(deep_equal(item, right[key]) for key, item in left.items())
        )
    return False


def _equals(operand: JsonValue) -> ValueTest:
    """A test for deep equality with ``operand``, specialised for the common scalar operands."""
    if operand is None:
        return lambda value: value is None
    if isinstance(operand, bool):
        return lambda value: value is operand
    if isinstance(operand, str):
        return lambda value: isinstance(value, str) and value == operand
    if _is_number(operand):
        return lambda value: _is_number(value) and value == operand
    return lambda value: deep_equal(value, operand)


def _ne(operand: JsonValue) -> ValueTest:
    equals = _equals(operand)
    return lambda value: value is not None and not equals(value)


def _ordering(op: str, operand: JsonValue) -> ValueTest:
    tests: dict[str, ValueTest]
    if _is_number(operand):
        number = operand
        tests = {
            "gt": lambda value: _is_number(value) and value > number,
            "gte": lambda value: _is_number(value) and value >= number,
            "lt": lambda value: _is_number(value) and value < number,
            "lte": lambda value: _is_number(value) and value <= number,
        }
    elif isinstance(operand, str):
        text = operand
        tests = {
            "gt": lambda value: isinstance(value, str) and value > text,
            "gte": lambda value: isinstance(value, str) and value >= text,
            "lt": lambda value: isinstance(value, str) and value < text,
            "lte": lambda value: isinstance(value, str) and value <= text,
        }
    else:
        raise OperatorError("must be a number or a string")
    return tests[op]


def _contains(operand: JsonValue) -> ValueTest:
    if isinstance(operand, str):
        # `in` on a list compares with ==, which for a str operand is exactly §6 equality.
        return lambda value: isinstance(value, str | list) and operand in value
    return lambda value: isinstance(value, list) and any(deep_equal(item, operand) for item in value)


def _string_operand(operand: JsonValue) -> str:
    if not isinstance(operand, str):
        raise OperatorError("must be a string")
    return operand


def _matches(operand: JsonValue) -> ValueTest:
    pattern = _string_operand(operand)
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise OperatorError(f"must be a string of at most {MAX_PATTERN_LENGTH} characters")
    try:
        search = re.compile(pattern).search
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise OperatorError(f"invalid regular expression: {exc}") from None
    return lambda value: isinstance(value, str) and search(value) is not None


def _in_list(operand: JsonValue) -> ValueTest:
    if not isinstance(operand, list):
        raise OperatorError("must be a list")
    has_null = any(item is None for item in operand)
    strings = frozenset(item for item in operand if isinstance(item, str))
    others = tuple(item for item in operand if item is not None and not isinstance(item, str))

    def test(value: JsonValue) -> bool:
        if value is None:
            return has_null
        if isinstance(value, str):
            return value in strings
        return any(deep_equal(value, item) for item in others)

    return test


def _exists(operand: JsonValue) -> ValueTest:
    if not isinstance(operand, bool):
        raise OperatorError("must be a boolean")
    if operand:
        return lambda value: value is not None
    return lambda value: value is None


def build_test(op: str, operand: JsonValue) -> ValueTest:
    """The test for ``{op: operand}``; OperatorError (the reason only) for a wrong operand type."""
    if op == "eq":
        return _equals(operand)
    if op == "ne":
        return _ne(operand)
    if op in ("gt", "gte", "lt", "lte"):
        return _ordering(op, operand)
    if op == "contains":
        return _contains(operand)
    if op == "starts_with":
        prefix = _string_operand(operand)
        return lambda value: isinstance(value, str) and value.startswith(prefix)
    if op == "ends_with":
        suffix = _string_operand(operand)
        return lambda value: isinstance(value, str) and value.endswith(suffix)
    if op == "matches":
        return _matches(operand)
    if op == "in_list":
        return _in_list(operand)
    if op == "exists":
        return _exists(operand)
    raise OperatorError("unknown key")
