"""RFC 7386 merge patch as features.md §7 applies it (examples from RFC 7386 Appendix A)."""

from __future__ import annotations

import copy

import pytest

from tidegate.model.json import JsonValue
from tidegate.rules import merge_patch

RFC_EXAMPLES: list[tuple[JsonValue, JsonValue, JsonValue]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_EXAMPLES)
def test_rfc_7386_examples(target: JsonValue, patch: JsonValue, expected: JsonValue) -> None:
    assert merge_patch(target, patch) == expected


@pytest.mark.parametrize("target", ["text", 5, None, True])
def test_non_object_target_patched_with_object_becomes_empty_object_first(target: JsonValue) -> None:
    assert merge_patch(target, {"a": 1, "b": None}) == {"a": 1}


def test_inputs_are_not_mutated_and_patch_values_are_copied() -> None:
    target: JsonValue = {"keep": {"x": 1}, "nested": {"a": 1, "b": 2}, "gone": 1}
    patch: JsonValue = {"nested": {"b": None, "c": [1, {"d": 2}]}, "gone": None}
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    result = merge_patch(target, patch)
    assert result == {"keep": {"x": 1}, "nested": {"a": 1, "c": [1, {"d": 2}]}}
    assert target == before_target
    assert patch == before_patch
    assert isinstance(result, dict) and isinstance(patch, dict) and isinstance(result["nested"], dict)
    result["nested"]["c"].append(3)  # type: ignore[union-attr]
    assert patch == before_patch
