"""The condition tree of rules.md §4 and ``semantic_match`` (§8), compiled at load."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tidegate.errors import BackendUnavailable
from tidegate.model.json import JsonValue
from tidegate.rules import compile_condition

from .helpers import NOW, UTC_ZONE, holds, make_action

ACTION = make_action(
    {
        "amount": 500,
        "to": "bob@example.com",
        "description": "All servers down in eu-1",
        "severity": "critical",
    },
    namespace="prod",
    metadata={"env": "prod"},
)
TRUE = {"field": "action.namespace", "eq": "prod"}
FALSE = {"field": "action.namespace", "eq": "dev"}


def problems(
    condition: object, embedding_enabled: bool = True, zone: ZoneInfo = UTC_ZONE
) -> list[tuple[str, str]]:
    compiled, found = compile_condition(condition, zone=zone, embedding_enabled=embedding_enabled)
    assert compiled is None
    return found


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"all": []}, True),
        ({"any": []}, False),
        ({"all": [TRUE]}, True),
        ({"all": [TRUE, FALSE]}, False),
        ({"all": [TRUE, TRUE, TRUE]}, True),
        ({"any": [FALSE, TRUE]}, True),
        ({"any": [FALSE, FALSE]}, False),
        ({"not": FALSE}, True),
        ({"not": TRUE}, False),
        ({"not": {"not": TRUE}}, True),
        ({"not": {"all": []}}, False),
        ({"any": [{"all": [TRUE, FALSE]}, {"not": FALSE}]}, True),
        # several operators in one predicate are AND-ed
        ({"field": "action.payload.amount", "gte": 100, "lt": 1000}, True),
        ({"field": "action.payload.amount", "gte": 100, "lt": 500}, False),
        ({"field": "action.payload.amount", "gte": 600, "lt": 1000}, False),
        # absent fields and mismatches are simply false, never an error
        ({"field": "action.payload.missing.deeper", "gt": 1}, False),
        ({"field": "action.payload.to", "gt": 1}, False),
        ({"not": {"field": "action.metadata.owner", "eq": "prod"}}, True),
        ({"not": {"field": "action.metadata.env", "eq": "prod"}}, False),
        ({"field": "action.metadata.owner", "exists": False}, True),
        ({"field": "time.hour", "eq": 13}, True),
        ({"field": "now", "gt": 1_700_000_000}, True),
    ],
)
def test_condition_tree(condition: object, expected: bool) -> None:
    assert holds(condition, ACTION) is expected


def test_short_circuit_skips_later_semantic_calls() -> None:
    calls: list[str] = []

    def semantic(text: str, topic: str, threshold: float) -> bool:
        calls.append(topic)
        return True

    condition = {"any": [TRUE, {"semantic_match": "later"}]}
    assert holds(condition, ACTION, semantic=semantic)
    assert calls == []
    assert holds({"all": [FALSE, {"semantic_match": "later"}]}, ACTION, semantic=semantic) is False
    assert calls == []


def test_time_fields_use_the_compilation_zone() -> None:
    condition = {"field": "time.hour", "eq": 8}
    assert holds(condition, ACTION, zone=ZoneInfo("US/Eastern"))
    assert not holds(condition, ACTION, zone=UTC_ZONE)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            {"all": [], "any": []},
            [("condition", "exactly one of all, any, not, field, semantic_match expected")],
        ),
        (
            {"field": "action.id", "eq": 1, "not": TRUE},
            [("condition", "exactly one of all, any, not, field, semantic_match expected")],
        ),
        ({"eq": 1}, [("condition", "exactly one of all, any, not, field, semantic_match expected")]),
        ({}, [("condition", "exactly one of all, any, not, field, semantic_match expected")]),
        ("action.id == 1", [("condition", "must be a mapping")]),
        ({"any": [{"field": "action.id"}]}, [("condition.any[0]", "no operator")]),
        (
            {"all": [{"field": "action.labels.env", "eq": "x"}]},
            [("condition.all[0].field", "unknown field 'action.labels.env'")],
        ),
        ({"field": 5, "eq": 1}, [("condition.field", "must be a string")]),
        (
            {"field": "action.payload..x", "eq": 1},
            [("condition.field", "empty segment in field 'action.payload..x'")],
        ),
        ({"field": "action.id", "gt": None}, [("condition.gt", "must be a number or a string")]),
        ({"field": "action.id", "regex": "x"}, [("condition.regex", "unknown key")]),
        ({"field": "action.id", "eq": 1, "threshold": 0.5}, [("condition.threshold", "unknown key")]),
        ({"all": [TRUE], "eq": 1}, [("condition.eq", "unknown key")]),
        ({"all": TRUE}, [("condition.all", "must be a list")]),
        ({"not": [TRUE]}, [("condition.not", "must be a mapping")]),
        (
            {"all": [TRUE, TRUE, {"field": "action.id", "matches": "^foo(bar"}]},
            [
                (
                    "condition.all[2].matches",
                    "invalid regular expression: missing ), unterminated subpattern at position 4",
                )
            ],
        ),
        (
            {
                "any": [
                    {"field": "action.x", "eq": 1},
                    {"field": "action.id", "in_list": "a", "exists": "yes"},
                ]
            },
            [
                ("condition.any[0].field", "unknown field 'action.x'"),
                ("condition.any[1].in_list", "must be a list"),
                ("condition.any[1].exists", "must be a boolean"),
            ],
        ),
        ({"cel": "action.id == 'x'"}, [("condition.cel", "CEL conditions are not supported")]),
        (
            {"all": [{"state_seen": "x"}]},
            [("condition.all[0].state_seen", "state_seen conditions are not supported")],
        ),
        (
            {"state_counter": {"k": 1}},
            [("condition.state_counter", "state_counter conditions are not supported")],
        ),
        ({"wasm_plugin": "p"}, [("condition.wasm_plugin", "WASM plugin conditions are not supported")]),
        (
            {"all": [TRUE, {"call": "has_active_event", "args": ["a"]}]},
            [
                (
                    "condition.all[1].call",
                    "expression functions (call, e.g. has_active_event inhibition) are not supported",
                )
            ],
        ),
        (
            {"has_active_event": "x"},
            [("condition.has_active_event", "inhibition (has_active_event) is not supported")],
        ),
    ],
)
def test_compile_problems(condition: object, expected: list[tuple[str, str]]) -> None:
    assert problems(condition) == expected


def nested(depth: int, wrapper: str = "all") -> dict[str, Any]:
    """A condition whose innermost predicate is at ``depth`` (the top level is depth 1)."""
    condition: dict[str, Any] = TRUE
    for _ in range(depth - 1):
        condition = {wrapper: condition} if wrapper == "not" else {wrapper: [condition]}
    return condition


def test_depth_16_is_allowed() -> None:
    assert holds(nested(16), ACTION) is True
    assert holds(nested(16, "not"), ACTION) is False  # 15 negations of a true predicate
    assert holds(nested(16, "any"), ACTION) is True


def test_depth_17_is_refused_once() -> None:
    assert problems(nested(17)) == [("condition", "nesting deeper than 16")]
    assert problems(nested(17, "not")) == [("condition", "nesting deeper than 16")]
    assert problems({"all": [nested(16), nested(20)]}) == [("condition", "nesting deeper than 16")]


def test_all_problems_are_collected() -> None:
    found = problems({"all": [{"field": "action.x", "eq": 1}, {"field": "action.id"}, {"cel": "x"}]})
    assert [path for path, _ in found] == [
        "condition.all[0].field",
        "condition.all[1]",
        "condition.all[2].cel",
    ]


class Recorder:
    def __init__(self, answer: bool = True) -> None:
        self.calls: list[tuple[str, str, float]] = []
        self.answer = answer

    def __call__(self, text: str, topic: str, threshold: float) -> bool:
        self.calls.append((text, topic, threshold))
        return self.answer


def test_semantic_match_calls_the_hook_with_text_topic_threshold() -> None:
    recorder = Recorder()
    condition = {
        "semantic_match": "Infrastructure outage",
        "threshold": 0.75,
        "text_field": "action.payload.description",
    }
    assert holds(condition, ACTION, semantic=recorder)
    assert recorder.calls == [("All servers down in eu-1", "Infrastructure outage", 0.75)]
    assert not holds(condition, ACTION, semantic=Recorder(answer=False))


def test_semantic_match_defaults_to_the_sorted_compact_payload_and_threshold_08() -> None:
    recorder = Recorder()
    action = make_action({"b": 1, "a": ["x", None]})
    assert holds({"semantic_match": "topic"}, action, semantic=recorder)
    assert recorder.calls == [('{"a":["x",null],"b":1}', "topic", 0.8)]


def test_semantic_match_non_string_field_is_sorted_json() -> None:
    recorder = Recorder()
    action = make_action({"d": {"z": 1, "a": True}, "n": 5})
    assert holds({"semantic_match": "t", "text_field": "action.payload.d"}, action, semantic=recorder)
    assert holds({"semantic_match": "t", "text_field": "action.payload.n"}, action, semantic=recorder)
    assert [text for text, _, _ in recorder.calls] == ['{"a":true,"z":1}', "5"]


@pytest.mark.parametrize("payload", [{}, {"d": None}, {"d": ""}])
def test_semantic_match_absent_or_empty_text_is_false_without_a_call(payload: dict[str, Any]) -> None:
    recorder = Recorder()
    assert not holds(
        {"semantic_match": "t", "text_field": "action.payload.d"}, make_action(payload), semantic=recorder
    )
    assert recorder.calls == []


def test_semantic_match_without_a_hook_is_false() -> None:
    assert not holds({"semantic_match": "t"}, ACTION)
    assert holds({"not": {"semantic_match": "t"}}, ACTION)


def test_semantic_hook_errors_propagate_for_fail_closed() -> None:
    def failing(text: str, topic: str, threshold: float) -> bool:
        raise BackendUnavailable("embedding provider failed")

    with pytest.raises(BackendUnavailable):
        holds({"semantic_match": "t"}, ACTION, semantic=failing)


def test_semantic_topics_are_collected() -> None:
    compiled, _ = compile_condition(
        {"any": [{"semantic_match": "one"}, {"not": {"semantic_match": "two", "threshold": 1}}]},
        zone=UTC_ZONE,
        embedding_enabled=True,
    )
    assert compiled is not None
    assert compiled.topics == ("one", "two")


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"semantic_match": "t"}, [("condition.semantic_match", "requires embedding.enabled = true")]),
        (
            {"all": [TRUE, {"semantic_match": "t"}]},
            [("condition.all[1].semantic_match", "requires embedding.enabled = true")],
        ),
    ],
)
def test_semantic_match_requires_embeddings(condition: object, expected: list[tuple[str, str]]) -> None:
    assert problems(condition, embedding_enabled=False) == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            {"semantic_match": ""},
            [("condition.semantic_match", "must be a non-empty string of at most 1024 characters")],
        ),
        (
            {"semantic_match": "x" * 1025},
            [("condition.semantic_match", "must be a non-empty string of at most 1024 characters")],
        ),
        (
            {"semantic_match": 5},
            [("condition.semantic_match", "must be a non-empty string of at most 1024 characters")],
        ),
        (
            {"semantic_match": "t", "threshold": 1.5},
            [("condition.threshold", "must be a number between 0.0 and 1.0")],
        ),
        (
            {"semantic_match": "t", "threshold": -0.1},
            [("condition.threshold", "must be a number between 0.0 and 1.0")],
        ),
        (
            {"semantic_match": "t", "threshold": True},
            [("condition.threshold", "must be a number between 0.0 and 1.0")],
        ),
        (
            {"semantic_match": "t", "threshold": "0.5"},
            [("condition.threshold", "must be a number between 0.0 and 1.0")],
        ),
        (
            {"semantic_match": "t", "text_field": "time.hour"},
            [("condition.text_field", "must be an action.* path, not 'time.hour'")],
        ),
        (
            {"semantic_match": "t", "text_field": "action.body"},
            [("condition.text_field", "unknown field 'action.body'")],
        ),
        ({"semantic_match": "t", "text_field": 3}, [("condition.text_field", "must be a string")]),
        (
            {"semantic_match": "t", "field": "action.id"},
            [("condition", "exactly one of all, any, not, field, semantic_match expected")],
        ),
        ({"semantic_match": "t", "eq": 1}, [("condition.eq", "unknown key")]),
    ],
)
def test_semantic_match_parameters(condition: object, expected: list[tuple[str, str]]) -> None:
    assert problems(condition) == expected


def test_semantic_match_bounds_are_inclusive() -> None:
    for threshold in (0, 0.0, 1, 1.0):
        assert holds({"semantic_match": "x" * 1024, "threshold": threshold}, ACTION, semantic=Recorder())


def test_evaluation_never_raises_on_odd_payloads() -> None:
    condition = {
        "all": [
            {"field": "action.payload.a.b.c", "gt": 1},
            {"field": "action.payload", "contains": "x"},
        ]
    }
    payloads: list[JsonValue] = [
        None,
        5,
        "x",
        [1, [2]],
        {"a": [1]},
        {"a": {"b": "s"}},
        {"a": {"b": {"c": "2"}}},
    ]
    for payload in payloads:
        holds(condition, make_action(payload), NOW)
