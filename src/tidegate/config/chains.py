"""``chains`` (config.md §4.9) and the chain definition schema of features.md §16.

The same ``ChainDefinition`` model validates definitions from the config file and from the API. What a
definition can check about itself (step names, targets, cycles, branch values) is checked here; that each
step's provider is configured needs the provider list: ``chain_provider_problems``."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Literal

from pydantic import Field, JsonValue, model_validator

from tidegate.chains.templates import template_problems
from tidegate.config._base import ConfigModel, Float, Identifier, Int, Problem, Problems, Rule

__all__ = [
    "ChainBranch",
    "ChainDefinition",
    "ChainStep",
    "ChainsSettings",
    "StepRetry",
    "chain_provider_problems",
]

StepName = Annotated[
    str, Rule("must be 1-128 characters of A-Z a-z 0-9 . _ -"), Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
]
BranchField = Annotated[
    str, Rule("must be 'status', 'body' or 'body.<path>'"), Field(pattern=r"^(status|body(\.[^.]+)*)$")
]
_MAX_PATTERN = 1024


class StepRetry(ConfigModel):
    max_retries: Int = Field(0, ge=0, le=10)
    backoff_seconds: Float = Field(1.0, ge=0.1, le=3600)
    multiplier: Float = Field(2.0, ge=1, le=10)
    max_backoff_seconds: Float = Field(300.0, ge=0.1, le=86400)


class ChainBranch(ConfigModel):
    field: BranchField
    operator: Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists", "matches"]
    value: JsonValue = None
    target: StepName

    @model_validator(mode="before")
    @classmethod
    def _neq_alias(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("operator") == "neq":
            return {**data, "operator": "ne"}
        return data

    @model_validator(mode="after")
    def _value_fits_operator(self) -> ChainBranch:
        """The value types of rules.md §7, checked at load."""
        value, op = self.value, self.operator
        if op in ("gt", "gte", "lt", "lte") and (
            isinstance(value, bool) or not isinstance(value, int | float | str)
        ):
            raise Problem(f"must be a number or a string for operator {op}", ("value",))
        if op == "exists" and not isinstance(value, bool):
            raise Problem("must be true or false for operator exists", ("value",))
        if op == "matches":
            if not isinstance(value, str) or len(value) > _MAX_PATTERN:
                raise Problem(
                    f"must be a regular expression of at most {_MAX_PATTERN} characters", ("value",)
                )
            try:
                re.compile(value)
            except re.error as exc:
                raise Problem(f"invalid regular expression: {exc}", ("value",)) from None
        return self


class ChainStep(ConfigModel):
    name: StepName
    provider: Identifier
    action_type: Identifier
    payload_template: JsonValue = Field(default_factory=dict)
    on_failure: Literal["abort", "skip"] = "abort"
    retry: StepRetry | None = None  # None: no retries
    delay_seconds: Float = Field(0.0, ge=0, le=86400)
    timeout_seconds: Float | None = Field(None, ge=1, le=3600)  # None: executor.timeout_seconds
    branches: list[ChainBranch] = Field(default_factory=list)
    default_next: StepName | None = None


class ChainDefinition(ConfigModel):
    name: Identifier
    steps: list[ChainStep] = Field(min_length=1, max_length=100)
    timeout_seconds: Int | None = Field(None, ge=1, le=2_592_000)  # None: chains.default_timeout_seconds

    @model_validator(mode="after")
    def _step_graph(self) -> ChainDefinition:
        problems = _graph_problems(self.steps)
        if problems:
            raise Problems(problems)
        return self

    def step(self, name: str) -> ChainStep | None:
        return next((s for s in self.steps if s.name == name), None)


def _graph_problems(steps: list[ChainStep]) -> list[Problem]:
    """Unique names, targets that exist, and no cycle over next-in-list, default_next and branch edges."""
    problems = []
    index_of: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.name in index_of:
            problems.append(Problem(f"duplicate step name '{step.name}'", ("steps", index, "name")))
        else:
            index_of[step.name] = index
    for index, step in enumerate(steps):
        for b, branch in enumerate(step.branches):
            if branch.target not in index_of:
                key = ("steps", index, "branches", b, "target")
                problems.append(Problem(f"unknown step '{branch.target}'", key))
        if step.default_next is not None and step.default_next not in index_of:
            problems.append(Problem(f"unknown step '{step.default_next}'", ("steps", index, "default_next")))
    if problems:
        return problems
    cycle = _find_cycle(steps, index_of)
    if cycle:
        return [Problem("cycle in the step graph: " + " -> ".join(cycle), ("steps",))]
    return [
        Problem(message, ("steps", index, "payload_template", *path))
        for index, step in enumerate(steps)
        for path, message in template_problems(step.payload_template, index_of, step.name)
    ]


def _find_cycle(steps: list[ChainStep], index_of: dict[str, int]) -> list[str]:
    edges: list[list[int]] = []
    for index, step in enumerate(steps):
        targets = [index + 1] if index + 1 < len(steps) else []
        if step.default_next is not None:
            targets.append(index_of[step.default_next])
        targets.extend(index_of[b.target] for b in step.branches)
        edges.append(targets)
    state = [0] * len(steps)  # 0 new, 1 on the current path, 2 done
    path: list[int] = []

    def visit(node: int) -> list[int]:
        state[node] = 1
        path.append(node)
        for nxt in edges[node]:
            if state[nxt] == 1:
                return [*path[path.index(nxt) :], nxt]
            if state[nxt] == 0:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for start in range(len(steps)):
        if state[start] == 0:
            found = visit(start)
            if found:
                return [steps[i].name for i in found]
    return []


def chain_provider_problems(definition: ChainDefinition, providers: Collection[str]) -> list[Problem]:
    """Steps whose ``provider`` is not configured; keys are relative to the definition."""
    return [
        Problem(f"unknown provider '{step.provider}'", ("steps", index, "provider"))
        for index, step in enumerate(definition.steps)
        if step.provider not in providers
    ]


class ChainsSettings(ConfigModel):
    default_timeout_seconds: Int = Field(86400, ge=1, le=2_592_000)
    completed_retention_seconds: Int = Field(604_800, ge=0, le=31_536_000)
    definitions: list[ChainDefinition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ChainsSettings:
        seen: set[str] = set()
        problems = []
        for index, definition in enumerate(self.definitions):
            if definition.name in seen:
                problems.append(
                    Problem(f"duplicate chain name '{definition.name}'", ("definitions", index, "name"))
                )
            seen.add(definition.name)
        if problems:
            raise Problems(problems)
        return self
