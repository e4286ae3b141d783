"""``tidegate check-rules [DIR]`` (rules.md §11): the startup validation, reported instead of raised."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from tidegate.rules.engine import RuleSet
from tidegate.rules.errors import RuleFileError, RuleLoadError
from tidegate.rules.loader import load_rules

__all__ = ["check_rule_set", "check_rules", "format_errors", "format_ok"]


def check_rule_set(
    directory: Path,
    *,
    providers: Collection[str],
    state_machines: Collection[str] = frozenset(),
    chains: Collection[str] = frozenset(),
    embedding_enabled: bool = False,
    default_timezone: str = "UTC",
) -> tuple[RuleSet | None, list[RuleFileError]]:
    """``(the rule set, [])`` when the directory loads, else ``(None, every problem)``; the set lets
    callers add warnings (``tidegate.embeddings.thresholds``).

    A missing directory is a problem here: checking nothing must not look like success."""
    try:
        rules = load_rules(
            directory,
            providers=providers,
            state_machines=state_machines,
            chains=chains,
            embedding_enabled=embedding_enabled,
            default_timezone=default_timezone,
        )
    except RuleLoadError as exc:
        return None, exc.errors
    return rules, []


def check_rules(
    directory: Path,
    *,
    providers: Collection[str],
    state_machines: Collection[str] = frozenset(),
    chains: Collection[str] = frozenset(),
    embedding_enabled: bool = False,
    default_timezone: str = "UTC",
) -> tuple[int, list[RuleFileError]]:
    """``(number of rules, [])`` when the directory loads, else ``(0, every problem)``."""
    rules, errors = check_rule_set(
        directory,
        providers=providers,
        state_machines=state_machines,
        chains=chains,
        embedding_enabled=embedding_enabled,
        default_timezone=default_timezone,
    )
    return (0, errors) if rules is None else (len(rules), [])


def format_errors(errors: Iterable[RuleFileError]) -> list[str]:
    """One line per problem: ``<file>: <message>``."""
    return [f"{error.file}: {error.message}" for error in errors]


def format_ok(count: int) -> str:
    return f"OK: {count} rules"
