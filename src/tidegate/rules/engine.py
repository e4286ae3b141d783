"""The rule set and its evaluation (rules.md §3): first terminal match decides, ``modify`` composes.

A ``RuleSet`` is immutable, so a reload swaps in a new one with one assignment and evaluations already
running finish on the set they started with. ``evaluate`` is pure: no I/O, the clock passed in."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from tidegate.model.action import Action
from tidegate.model.json import JsonValue
from tidegate.model.verdict import AllowParams, ChainParams, ModifyParams, Verdict, VerdictKind, VerdictParams
from tidegate.rules.conditions import Predicate
from tidegate.rules.context import EvalContext, SemanticMatcher
from tidegate.rules.merge_patch import merge_patch

__all__ = ["Rule", "RuleSet"]

_NO_OVERRIDES: Mapping[str, bool] = MappingProxyType({})
_ALLOW = AllowParams()
_APPROVAL = VerdictKind.REQUEST_APPROVAL


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One loaded rule. ``position`` is its index in the set's evaluation order (set by ``RuleSet``).

    Rules compare by identity: the compiled condition is a closure, and names are unique in a set."""

    name: str
    kind: VerdictKind
    params: VerdictParams
    condition: Predicate
    priority: int = 0
    enabled: bool = True
    description: str | None = None
    source: str = ""
    timezone: str = "UTC"
    metadata: Mapping[str, str] = field(default_factory=dict)
    semantic_topics: tuple[str, ...] = ()
    default_thresholds: tuple[str, ...] = ()  # paths of semantic_match nodes relying on the default
    position: int = 0

    @property
    def action_type(self) -> str:
        """The verdict type as written in the file (``GET /v1/rules`` shows it as ``action``)."""
        return self.kind.value

    def is_enabled(self, overrides: Mapping[str, bool] = _NO_OVERRIDES) -> bool:
        """The effective state: a runtime toggle beats the file's ``enabled`` (§11)."""
        return overrides.get(self.name, self.enabled)


def _patch_of(rule: Rule) -> JsonValue:
    """The merge patch of a modify rule (None for other rules); a modify rule needs ``ModifyParams``."""
    if rule.kind is not VerdictKind.MODIFY:
        return None
    if not isinstance(rule.params, ModifyParams):
        raise ValueError(f"rule '{rule.name}': modify rules need ModifyParams")
    return rule.params.changes


class RuleSet:
    """All loaded rules in effective order: ascending priority, then file order, then file position."""

    __slots__ = ("_by_name", "_plan", "_rules", "_topics")

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        """``rules`` in file order; the stable sort by priority keeps file order for ties."""
        ordered = sorted(rules, key=lambda rule: rule.priority)
        self._rules = tuple(dataclasses.replace(rule, position=index) for index, rule in enumerate(ordered))
        self._by_name = {rule.name: rule for rule in self._rules}
        if len(self._by_name) != len(self._rules):
            raise ValueError("rule names must be unique")
        self._topics = tuple(dict.fromkeys(topic for rule in self._rules for topic in rule.semantic_topics))
        # What the hot loop needs per rule, unpacked once instead of read from attributes per dispatch.
        self._plan = tuple(
            (
                rule,
                rule.name,
                rule.enabled,
                rule.condition,
                rule.kind is VerdictKind.MODIFY,
                _patch_of(rule),
                rule.kind is _APPROVAL,
            )
            for rule in self._rules
        )

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    @property
    def semantic_topics(self) -> tuple[str, ...]:
        """Distinct ``semantic_match`` topics, to embed in the background after a load (§8)."""
        return self._topics

    @property
    def chains(self) -> frozenset[str]:
        """Chain definitions referenced by a rule; such a definition cannot be deleted (features.md §16)."""
        return frozenset(rule.params.chain for rule in self._rules if isinstance(rule.params, ChainParams))

    def find(self, name: str) -> Rule | None:
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def evaluate(
        self,
        action: Action,
        now: datetime,
        *,
        overrides: Mapping[str, bool] = _NO_OVERRIDES,
        start_after: int | None = None,
        skip_approval: bool = False,
        semantic: SemanticMatcher | None = None,
    ) -> Verdict:
        """Decide one action (§3). Never raises, except what an injected ``semantic`` matcher raises.

        ``overrides`` maps rule names to runtime toggles. ``start_after`` evaluates only the rules after
        that position (an approved action resumes after its approval rule, features.md §15), and
        ``skip_approval`` ignores ``request_approval`` rules (the approval rule has since disappeared)."""
        ctx = EvalContext(action, now, semantic)
        plan = self._plan
        modified_by: list[str] | None = None
        last_modify: Rule | None = None
        for index in range(0 if start_after is None else start_after + 1, len(plan)):
            rule, name, enabled, condition, is_modify, patch, is_approval = plan[index]
            if not (overrides.get(name, enabled) if overrides else enabled):
                continue
            if skip_approval and is_approval:
                continue
            if not condition(ctx):
                continue
            if is_modify:
                ctx.action = ctx.action.replace(payload=merge_patch(ctx.action.payload, patch))
                if modified_by is None:
                    modified_by = []
                modified_by.append(name)
                last_modify = rule
                continue
            return Verdict(
                rule.kind, rule.name, ctx.action, rule.params, tuple(modified_by or ()), rule.position
            )
        if last_modify is not None and modified_by is not None:
            return Verdict(
                VerdictKind.MODIFY,
                last_modify.name,
                ctx.action,
                last_modify.params,
                tuple(modified_by),
                last_modify.position,
            )
        return Verdict(VerdictKind.ALLOW, None, action, _ALLOW)
