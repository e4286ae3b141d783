"""Load-time rule problems (rules.md §10): one ``RuleFileError`` per problem, all raised together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from tidegate.errors import ConfigError

__all__ = ["Problem", "RuleFileError", "RuleLoadError", "format_problem"]

#: ``(key path inside the rule, reason)``, e.g. ``("condition.gt", "must be a number or a string")``.
Problem: TypeAlias = tuple[str, str]


def format_problem(problem: Problem) -> str:
    path, reason = problem
    return f"{path}: {reason}" if path else reason


@dataclass(frozen=True, slots=True)
class RuleFileError:
    """One problem: ``file`` is relative to the rules directory, ``message`` follows the §10 table."""

    file: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The item of the reload answer's ``errors`` list (api.md §4)."""
        return {"file": self.file, "message": self.message}

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


class RuleLoadError(ConfigError):
    """A rule set failed to load; ``errors`` lists every problem of every file, not only the first.

    It is a ``ConfigError`` so that startup prints each problem and exits like any config problem."""

    def __init__(self, errors: Sequence[RuleFileError]) -> None:
        super().__init__([str(error) for error in errors])
        self.errors = list(errors)
