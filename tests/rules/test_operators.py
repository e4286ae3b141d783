"""Every operator of rules.md §7 with the value rules of §6; ``None`` is an absent field."""

from __future__ import annotations

import pytest

from tidegate.model.json import JsonValue
from tidegate.rules.operators import OperatorError, build_test, deep_equal

ROWS: list[tuple[str, JsonValue, JsonValue, bool]] = [
    # eq: deep equality, numbers by value, bool is not a number, no string/number coercion
    ("eq", "spam", "spam", True),
    ("eq", "spam", "Spam", False),
    ("eq", "spam", None, False),
    ("eq", 5, 5.0, True),
    ("eq", 5.0, 5, True),
    ("eq", 5, "5", False),
    ("eq", "5", 5, False),
    ("eq", 1, True, False),
    ("eq", True, 1, False),
    ("eq", True, True, True),
    ("eq", False, 0, False),
    ("eq", False, None, False),
    ("eq", None, None, True),
    ("eq", None, "x", False),
    ("eq", None, False, False),
    ("eq", [1, "a"], [1.0, "a"], True),
    ("eq", [1, "a"], ["a", 1], False),
    ("eq", [1], [1, 1], False),
    ("eq", [1], [True], False),
    ("eq", {"a": 1, "b": [2]}, {"b": [2.0], "a": 1.0}, True),
    ("eq", {"a": 1}, {"a": 1, "b": 2}, False),
    ("eq", {"a": 1}, {"a": True}, False),
    ("eq", {"a": None}, {"a": None}, True),
    ("eq", {"a": 1}, [1], False),
    ("eq", [], {}, False),
    # ne: absent is false; ne null is true exactly when present
    ("ne", "prod", "dev", True),
    ("ne", "prod", "prod", False),
    ("ne", "prod", None, False),
    ("ne", 5, 5.0, False),
    ("ne", 1, True, True),
    ("ne", "5", 5, True),
    ("ne", None, "x", True),
    ("ne", None, 0, True),
    ("ne", None, None, False),
    ("ne", [1, 2], [1, 2], False),
    ("ne", [1, 2], [2, 1], True),
    # gt/gte/lt/lte: numbers numerically, strings by code point, anything else false
    ("gt", 1000, 1000.5, True),
    ("gt", 1000, 1000, False),
    ("gt", 1000, 999, False),
    ("gt", 1000, "2000", False),
    ("gt", 1000, True, False),
    ("gt", 0, True, False),
    ("gt", 1000, None, False),
    ("gt", 1000, [2000], False),
    ("gte", 100, 100, True),
    ("gte", 100, 100.0, True),
    ("gte", 100, 99.99, False),
    ("lt", 9, 8, True),
    ("lt", 9, 9, False),
    ("lt", 9, None, False),
    ("lte", 9, 9.0, True),
    ("lte", 9, 10, False),
    ("gt", "b", "c", True),
    ("gt", "b", "b", False),
    ("gt", "b", "B", False),
    ("gt", "b", 5, False),
    ("gte", "2026-01-01T00:00:00.000000Z", "2026-02-07T14:30:00.000000Z", True),
    ("lt", "é", "z", True),  # code points, not collation: "z" < "é"
    ("lt", "a", "é", False),
    ("lte", "abc", "abc", True),
    ("lte", 1.5, 1, True),
    # contains: substring of a string, deep-equal item of a list
    ("contains", "@", "a@x.io", True),
    ("contains", "@", "ax.io", False),
    ("contains", "", "anything", True),
    ("contains", "a", None, False),
    ("contains", "1", 12, False),
    ("contains", "a", ["a", "b"], True),
    ("contains", "a", ["ab"], False),
    ("contains", 1, [1.0, 2], True),
    ("contains", 1, [True], False),
    ("contains", True, [1], False),
    ("contains", True, [True], True),
    ("contains", {"k": 1}, [{"k": 1.0}], True),
    ("contains", [1], [[1], 2], True),
    ("contains", 1, "1", False),
    ("contains", "a", {"a": 1}, False),
    ("contains", None, [None], True),
    # starts_with / ends_with
    ("starts_with", "alert_", "alert_cpu", True),
    ("starts_with", "alert_", "Alert_cpu", False),
    ("starts_with", "alert_", None, False),
    ("starts_with", "1", 12, False),
    ("starts_with", "a", ["a"], False),
    ("ends_with", "@vip.example.com", "ann@vip.example.com", True),
    ("ends_with", "@vip.example.com", "ann@example.com", False),
    ("ends_with", ".com", None, False),
    # matches: re.search, unanchored, never converts numbers
    ("matches", r"@example\.com$", "bob@example.com", True),
    ("matches", r"@example\.com$", "bob@example.com.evil", False),
    ("matches", "ob", "bob", True),
    ("matches", "^ob", "bob", False),
    ("matches", "(?i)^BOB", "bob", True),
    ("matches", "^BOB", "bob", False),
    ("matches", "^5$", 5, False),
    ("matches", ".*", None, False),
    ("matches", ".*", ["x"], False),
    # in_list: deep-equal to an item; absent true iff the list holds null
    ("in_list", ["ci", "healthcheck"], "ci", True),
    ("in_list", ["ci", "healthcheck"], "CI", False),
    ("in_list", ["ci", "healthcheck"], None, False),
    ("in_list", ["critical", 1], 1, True),
    ("in_list", ["critical", 1], 1.0, True),
    ("in_list", ["critical", 1], "1", False),
    ("in_list", ["critical", 1], True, False),
    ("in_list", [True], 1, False),
    ("in_list", [True], True, True),
    ("in_list", ["a", None], None, True),
    ("in_list", ["a", None], "b", False),
    ("in_list", [], None, False),
    ("in_list", [], "a", False),
    ("in_list", [[1, 2], {"a": 1}], [1, 2.0], True),
    ("in_list", [[1, 2], {"a": 1}], {"a": 1}, True),
    ("in_list", [[1, 2]], [2, 1], False),
    # exists
    ("exists", True, "x", True),
    ("exists", True, "", True),
    ("exists", True, False, True),
    ("exists", True, 0, True),
    ("exists", True, None, False),
    ("exists", False, None, True),
    ("exists", False, "x", False),
]


@pytest.mark.parametrize(("op", "operand", "value", "expected"), ROWS)
def test_operator(op: str, operand: JsonValue, value: JsonValue, expected: bool) -> None:
    assert build_test(op, operand)(value) is expected


BAD_OPERANDS: list[tuple[str, JsonValue, str]] = [
    ("gt", None, "must be a number or a string"),
    ("gte", True, "must be a number or a string"),
    ("lt", [1], "must be a number or a string"),
    ("lte", {"a": 1}, "must be a number or a string"),
    ("starts_with", 1, "must be a string"),
    ("ends_with", None, "must be a string"),
    ("matches", 5, "must be a string"),
    ("matches", "x" * 1025, "must be a string of at most 1024 characters"),
    ("matches", "(abc", "invalid regular expression: missing ), unterminated subpattern at position 0"),
    ("in_list", "ci", "must be a list"),
    ("in_list", None, "must be a list"),
    ("exists", "true", "must be a boolean"),
    ("exists", 1, "must be a boolean"),
]


@pytest.mark.parametrize(("op", "operand", "reason"), BAD_OPERANDS)
def test_operand_type_is_checked_at_load(op: str, operand: JsonValue, reason: str) -> None:
    with pytest.raises(OperatorError) as info:
        build_test(op, operand)
    assert str(info.value) == reason


@pytest.mark.parametrize("operand", ["x", 1, 1.5, True, None, [1], {"a": [1]}])
def test_operators_accepting_any_value(operand: JsonValue) -> None:
    for op in ("eq", "ne", "contains"):
        build_test(op, operand)


def test_pattern_of_exactly_1024_characters_is_accepted() -> None:
    assert build_test("matches", "a" * 1024)("a" * 1024)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (0, False, False),
        (None, None, True),
        ("a", "a", True),
        ([1, [2, {"x": 3}]], [1.0, [2.0, {"x": 3.0}]], True),
        ({"a": [True]}, {"a": [1]}, False),
        ({"a": 1}, {"b": 1}, False),
        ([], [], True),
        ({}, {}, True),
    ],
)
def test_deep_equal(left: JsonValue, right: JsonValue, expected: bool) -> None:
    assert deep_equal(left, right) is expected
    assert deep_equal(right, left) is expected


def test_unknown_operator() -> None:
    with pytest.raises(OperatorError, match=r"^unknown key$"):
        build_test("regex", "x")
