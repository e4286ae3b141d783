"""``semantic_match`` syntax errors (rules.md §8, §10): each names its key path and says what is expected."""

from __future__ import annotations

import pytest

from tidegate.rules import RuleLoadError, loads_rules_text


def problems(condition: str, *, embedding_enabled: bool = True) -> list[str]:
    text = f"rules:\n  - name: r1\n    condition: {condition}\n    action: {{type: allow}}\n"
    try:
        loads_rules_text("a.yaml", text, providers={"log"}, embedding_enabled=embedding_enabled)
    except RuleLoadError as exc:
        return [error.message for error in exc.errors]
    return []


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{semantic_match: "x", text_field: null}', "condition.text_field: must be a string"),
        ('{semantic_match: "x", text_field: }', "condition.text_field: must be a string"),
        (
            '{semantic_match: "x", threshold: null}',
            "condition.threshold: must be a number between 0.0 and 1.0",
        ),
        (
            '{semantic_match: "x", threshold: 1.5}',
            "condition.threshold: must be a number between 0.0 and 1.0",
        ),
        (
            '{semantic_match: "x", threshold: true}',
            "condition.threshold: must be a number between 0.0 and 1.0",
        ),
        (
            '{semantic_match: "x", text_field: time.hour}',
            "condition.text_field: must be an action.* path, not 'time.hour'",
        ),
        (
            '{semantic_match: ""}',
            "condition.semantic_match: must be a non-empty string of at most 1024 characters",
        ),
        ('{semantic_match: "x", model: y}', "condition.model: unknown key"),
        (
            '{semantic_match: "x", field: action.id, eq: 1}',
            "condition: exactly one of all, any, not, field, semantic_match expected",
        ),
    ],
)
def test_each_problem_is_reported_with_its_path(condition: str, message: str) -> None:
    assert problems(condition) == [f"rule 'r1': {message}"]


def test_without_embeddings_the_rule_does_not_load() -> None:
    assert problems('{semantic_match: "x"}', embedding_enabled=False) == [
        "rule 'r1': condition.semantic_match: requires embedding.enabled = true"
    ]


def test_valid_forms_load() -> None:
    assert problems('{semantic_match: "x"}') == []
    assert problems('{semantic_match: "x", threshold: 0, text_field: action.metadata.summary}') == []
    assert problems('{not: {semantic_match: "x", threshold: 1}}') == []
