"""``check_rules`` behind ``tidegate check-rules [DIR]`` (rules.md §11)."""

from __future__ import annotations

from pathlib import Path

from tidegate.rules import RuleFileError, check_rules, format_errors, format_ok

from . import examples
from .helpers import rule_yaml


def test_valid_directory_counts_rules(tmp_path: Path) -> None:
    for name, text in examples.FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    count, errors = check_rules(
        tmp_path,
        providers=examples.PROVIDERS,
        state_machines=examples.STATE_MACHINES,
        chains=examples.CHAINS,
        embedding_enabled=True,
    )
    assert (count, errors) == (13, [])
    assert format_ok(count) == "OK: 13 rules"


def test_disabled_rules_are_counted(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(rule_yaml(extra="enabled: false"), encoding="utf-8")
    assert check_rules(tmp_path, providers=set()) == (1, [])


def test_errors_are_returned_not_raised(tmp_path: Path) -> None:
    (tmp_path / "10-ok.yaml").write_text(rule_yaml(), encoding="utf-8")
    (tmp_path / "20-bad.yaml").write_text(
        rule_yaml("{field: action.labels.env, eq: x}", name="r2"), encoding="utf-8"
    )
    count, errors = check_rules(tmp_path, providers=set())
    assert count == 0
    assert errors == [
        RuleFileError("20-bad.yaml", "rule 'r2': condition.field: unknown field 'action.labels.env'")
    ]
    assert format_errors(errors) == [
        "20-bad.yaml: rule 'r2': condition.field: unknown field 'action.labels.env'"
    ]


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    count, errors = check_rules(tmp_path / "nope", providers=set())
    assert count == 0
    assert format_errors(errors) == [f"{tmp_path / 'nope'}: rules directory not found"]


def test_empty_directory_is_ok(tmp_path: Path) -> None:
    assert check_rules(tmp_path, providers=set()) == (0, [])
    assert format_ok(0) == "OK: 0 rules"
