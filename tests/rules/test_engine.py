"""Evaluation order and matching (rules.md §3), toggles (§11) and approval resumption (features.md §15)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from tidegate.model.json import JsonValue
from tidegate.model.verdict import (
    AllowParams,
    ApprovalParams,
    ChainParams,
    DedupParams,
    GroupParams,
    ModifyParams,
    RerouteParams,
    StateMachineParams,
    SuppressParams,
    ThrottleParams,
    VerdictKind,
)
from tidegate.rules import EvalContext, Rule, RuleSet, load_rule_texts
from tidegate.rules import context as context_module

from . import examples
from .helpers import NOW, load, make_action

ORDERING = {
    "b.yaml": """
rules:
  - {name: b-first, priority: 5, condition: {all: []}, action: {type: allow}}
  - {name: b-second, priority: 5, condition: {all: []}, action: {type: allow}}
  - {name: b-low, priority: -3, condition: {all: []}, action: {type: allow}}
""",
    "10-a.yaml": """
rules:
  - {name: a-five, priority: 5, condition: {all: []}, action: {type: allow}}
  - {name: a-default, condition: {all: []}, action: {type: allow}}
""",
    "2-c.yml": """
rules:
  - {name: c-five, priority: 5, condition: {all: []}, action: {type: allow}}
  - {name: c-big, priority: 1000000, condition: {all: []}, action: {type: allow}}
  - {name: c-small, priority: -1000000, condition: {all: []}, action: {type: allow}}
""",
}


def test_effective_order_is_priority_then_file_name_then_position() -> None:
    rules = load_rule_texts(ORDERING.items(), providers=set())
    assert [rule.name for rule in rules.rules] == [
        "c-small",
        "b-low",
        "a-default",
        "a-five",  # 10-a.yaml < 2-c.yml < b.yaml as Python strings
        "c-five",
        "b-first",
        "b-second",
        "c-big",
    ]
    assert [rule.position for rule in rules.rules] == list(range(8))
    assert [rule.source for rule in rules.rules][:3] == ["2-c.yml", "b.yaml", "10-a.yaml"]


def test_first_terminal_match_decides() -> None:
    rules = load(
        """
rules:
  - {name: never, priority: 1, condition: {field: action.action_type, eq: other}, action: {type: deny}}
  - name: spam
    priority: 2
    condition: {field: action.action_type, eq: send_email}
    action: {type: suppress}
  - {name: later, priority: 3, condition: {all: []}, action: {type: deny}}
"""
    )
    verdict = rules.evaluate(make_action(), NOW)
    assert verdict.kind is VerdictKind.SUPPRESS
    assert verdict.matched_rule == "spam"
    assert verdict.params == SuppressParams()
    assert verdict.position == 1
    assert verdict.modified_by == ()


def test_allow_rule_is_terminal_and_named() -> None:
    rules = load(
        """
rules:
  - {name: ok, priority: 1, condition: {all: []}, action: {type: allow}}
  - {name: nope, priority: 2, condition: {all: []}, action: {type: deny}}
"""
    )
    verdict = rules.evaluate(make_action(), NOW)
    assert (verdict.kind, verdict.matched_rule, verdict.params) == (VerdictKind.ALLOW, "ok", AllowParams())


def test_no_match_is_allow_with_no_rule() -> None:
    action = make_action()
    for rules in (RuleSet(), load("rules:\n  - {name: x, condition: {any: []}, action: {type: deny}}\n")):
        verdict = rules.evaluate(action, NOW)
        assert verdict.kind is VerdictKind.ALLOW
        assert verdict.matched_rule is None
        assert verdict.action is action
        assert verdict.params == AllowParams()
        assert verdict.modified_by == ()
        assert verdict.position is None


MODIFY_RULES = """
rules:
  - name: add-a
    priority: 1
    condition: {all: []}
    action: {type: modify, changes: {a: 1, tags: [x], drop: null}}
  - name: needs-a
    priority: 2
    condition: {field: action.payload.a, eq: 1}
    action: {type: modify, changes: {b: 2, tags: [y]}}
  - name: not-matching
    priority: 3
    condition: {field: action.payload.c, exists: true}
    action: {type: modify, changes: {never: true}}
  - name: decide
    priority: 4
    condition: {field: action.payload.b, eq: 2}
    action: {type: deduplicate}
"""


def test_modify_is_not_terminal_and_composes_in_order() -> None:
    action = make_action({"drop": "me", "keep": 1})
    original = copy.deepcopy(action.payload)
    verdict = load(MODIFY_RULES).evaluate(action, NOW)
    assert verdict.kind is VerdictKind.DEDUPLICATE
    assert verdict.matched_rule == "decide"
    assert verdict.params == DedupParams(ttl_seconds=86400)
    assert verdict.modified_by == ("add-a", "needs-a")
    assert verdict.action.payload == {"keep": 1, "a": 1, "b": 2, "tags": ["y"]}
    assert verdict.action.replace(payload=original) == action  # only the payload changes
    assert action.payload == original  # the received action is untouched


def test_only_modify_rules_give_modify_verdict_naming_the_last() -> None:
    rules = load(MODIFY_RULES.split("  - name: decide")[0])
    verdict = rules.evaluate(make_action({}), NOW)
    assert verdict.kind is VerdictKind.MODIFY
    assert verdict.matched_rule == "needs-a"
    assert verdict.params == ModifyParams(changes={"b": 2, "tags": ["y"]})
    assert verdict.modified_by == ("add-a", "needs-a")
    assert verdict.position == 1
    assert verdict.action.payload == {"a": 1, "b": 2, "tags": ["y"]}


def test_modify_applies_once_per_evaluation_and_rules_are_not_mutated() -> None:
    rules = load(MODIFY_RULES)
    first = rules.evaluate(make_action({}), NOW)
    assert isinstance(first.action.payload, dict)
    first.action.payload["tags"].append("mutated")  # type: ignore[union-attr]
    second = rules.evaluate(make_action({}), NOW)
    assert second.action.payload == {"a": 1, "b": 2, "tags": ["y"]}


def test_modify_with_non_object_changes_replaces_the_payload() -> None:
    rules = load("rules:\n  - {name: m, condition: {all: []}, action: {type: modify, changes: [1, 2]}}\n")
    assert rules.evaluate(make_action({"a": 1}), NOW).action.payload == [1, 2]


def test_toggles_override_the_file() -> None:
    rules = load(
        """
rules:
  - {name: off-in-file, priority: 1, enabled: false, condition: {all: []}, action: {type: deny}}
  - {name: on-in-file, priority: 2, condition: {all: []}, action: {type: suppress}}
"""
    )
    action = make_action()
    assert rules.evaluate(action, NOW).matched_rule == "on-in-file"
    assert rules.evaluate(action, NOW, overrides={"off-in-file": True}).matched_rule == "off-in-file"
    assert rules.evaluate(action, NOW, overrides={"on-in-file": False}).matched_rule is None
    assert rules.evaluate(action, NOW, overrides={"gone-rule": True}).matched_rule == "on-in-file"
    off, on = rules.rules
    assert (off.is_enabled(), on.is_enabled()) == (False, True)
    assert off.is_enabled({"off-in-file": True}) and not on.is_enabled({"on-in-file": False})


def test_disabled_modify_rules_are_skipped() -> None:
    verdict = load(MODIFY_RULES).evaluate(make_action({}), NOW, overrides={"add-a": False})
    assert verdict.kind is VerdictKind.ALLOW
    assert verdict.action.payload == {}


APPROVAL_RULES = """
rules:
  - {name: enrich, priority: 1, condition: {all: []}, action: {type: modify, changes: {n: 1}}}
  - name: approve
    priority: 2
    condition: {field: action.action_type, eq: process_refund}
    action: {type: request_approval, notify_provider: slack}
  - {name: enrich-more, priority: 3, condition: {all: []}, action: {type: modify, changes: {m: 2}}}
  - name: dedup
    priority: 4
    condition: {field: action.payload.n, eq: 1}
    action: {type: deduplicate, ttl_seconds: 60}
"""


def test_request_approval_is_terminal() -> None:
    verdict = load(APPROVAL_RULES).evaluate(make_action({}, action_type="process_refund"), NOW)
    assert verdict.kind is VerdictKind.REQUEST_APPROVAL
    assert verdict.params == ApprovalParams(notify_provider="slack")
    assert verdict.position == 1
    assert verdict.action.payload == {"n": 1}


def test_start_after_resumes_after_the_approval_rule_without_reapplying_modify() -> None:
    rules = load(APPROVAL_RULES)
    held = rules.evaluate(make_action({}, action_type="process_refund"), NOW)
    approval = rules.find("approve")
    assert approval is not None and held.position == approval.position
    resumed = rules.evaluate(held.action, NOW, start_after=approval.position)
    assert resumed.kind is VerdictKind.DEDUPLICATE
    assert resumed.modified_by == ("enrich-more",)
    assert resumed.action.payload == {"n": 1, "m": 2}


def test_start_after_the_last_rule_allows() -> None:
    rules = load(APPROVAL_RULES)
    verdict = rules.evaluate(make_action({"n": 1}), NOW, start_after=len(rules) - 1)
    assert (verdict.kind, verdict.matched_rule) == (VerdictKind.ALLOW, None)


def test_skip_approval_ignores_request_approval_rules() -> None:
    verdict = load(APPROVAL_RULES).evaluate(
        make_action({}, action_type="process_refund"), NOW, skip_approval=True
    )
    assert verdict.kind is VerdictKind.DEDUPLICATE
    assert verdict.modified_by == ("enrich", "enrich-more")


def test_time_fields_are_computed_once_per_zone_per_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = context_module.LocalTime.of.__func__  # type: ignore[attr-defined]

    def counting(cls: type, instant: datetime, zone: object) -> object:
        calls.append(str(zone))
        return real(cls, instant, zone)

    monkeypatch.setattr(context_module.LocalTime, "of", classmethod(counting))
    rules = load(
        """
rules:
  - {name: a, timezone: US/Eastern, condition: {field: time.hour, eq: 99}, action: {type: deny}}
  - {name: b, timezone: US/Eastern, condition: {field: time.minute, eq: 99}, action: {type: deny}}
  - {name: c, condition: {any: [{field: time.hour, eq: 99}, {field: time.day, eq: 99}]}, action: {type: deny}}
  - {name: d, timezone: Europe/Paris, condition: {field: time.hour, eq: 99}, action: {type: deny}}
"""
    )
    rules.evaluate(make_action(), NOW)
    assert sorted(calls) == ["Europe/Paris", "US/Eastern", "UTC"]


QUIET_HOURS = examples.TIME_AND_MEANING.split("  - name: page-on-outage")[0]


@pytest.mark.parametrize(
    ("now", "priority", "suppressed"),
    [
        (datetime(2026, 2, 9, 13, 30, tzinfo=UTC), None, True),  # Monday 08:30 New York
        (datetime(2026, 2, 9, 14, 0, tzinfo=UTC), None, False),  # Monday 09:00
        (datetime(2026, 2, 9, 21, 59, tzinfo=UTC), None, False),  # Monday 16:59
        (datetime(2026, 2, 9, 22, 0, tzinfo=UTC), None, True),  # Monday 17:00
        (datetime(2026, 2, 7, 17, 0, tzinfo=UTC), None, True),  # Saturday noon
        (datetime(2026, 2, 9, 3, 0, tzinfo=UTC), None, True),  # Sunday 22:00 (Monday in UTC)
        (datetime(2026, 2, 9, 13, 30, tzinfo=UTC), "high", False),
        (datetime(2026, 7, 6, 13, 30, tzinfo=UTC), None, False),  # Monday 09:30 EDT
    ],
)
def test_quiet_hours_in_new_york(now: datetime, priority: str | None, suppressed: bool) -> None:
    rules = load(QUIET_HOURS)
    metadata = {"priority": priority} if priority else {}
    verdict = rules.evaluate(make_action(action_type="send_sms", provider="sms", metadata=metadata), now)
    assert (verdict.kind is VerdictKind.SUPPRESS) is suppressed


def test_semantic_hook_reaches_conditions() -> None:
    rules = load(
        "rules:\n  - {name: s, condition: {semantic_match: outage}, action: {type: deny}}\n",
        embedding_enabled=True,
    )
    action = make_action({"d": 1})
    assert rules.evaluate(action, NOW).kind is VerdictKind.ALLOW
    verdict = rules.evaluate(action, NOW, semantic=lambda text, topic, threshold: topic == "outage")
    assert verdict.kind is VerdictKind.DENY
    assert rules.semantic_topics == ("outage",)


def example_rules() -> RuleSet:
    return load_rule_texts(
        examples.FILES.items(),
        providers=examples.PROVIDERS,
        chains=examples.CHAINS,
        state_machines=examples.STATE_MACHINES,
        embedding_enabled=True,
    )


def test_spec_examples_load_together() -> None:
    rules = example_rules()
    assert len(rules) == 13
    assert [rule.name for rule in rules] == [
        "add-tracking",
        "block-spam",
        "quiet-hours-eastern",
        "deny-untagged-prod",
        "allow-healthchecks",
        "approve-large-refunds",
        "dedup-welcome",
        "page-on-outage",
        "throttle-per-recipient",
        "first-recipient-vip",
        "group-cluster-alerts",
        "alert-lifecycle",
        "research-pipeline",
    ]
    find = rules.find
    assert find("nope") is None
    block = find("block-spam")
    assert block is not None
    assert (block.description, block.source, block.action_type, block.timezone) == (
        "Drop spam outright",
        "10-guardrails.yaml",
        "suppress",
        "UTC",
    )
    quiet = find("quiet-hours-eastern")
    assert quiet is not None and quiet.timezone == "US/Eastern"
    research = find("research-pipeline")
    assert research is not None and research.enabled is False
    assert research.params == ChainParams(chain="search-summarize-email")
    assert rules.chains == frozenset({"search-summarize-email"})
    assert rules.semantic_topics == ("Infrastructure outage, servers down",)
    params = {rule.name: rule.params for rule in rules}
    assert params["throttle-per-recipient"] == ThrottleParams(
        max_count=10, window_seconds=60, key_fields=("payload.to",)
    )
    assert params["group-cluster-alerts"] == GroupParams(
        group_by=("metadata.cluster", "metadata.severity"),
        group_wait_seconds=60,
        group_interval_seconds=300,
        repeat_interval_seconds=3600,
        max_group_size=50,
        notify_provider="slack",
    )
    assert params["alert-lifecycle"] == StateMachineParams("alert", ("metadata.cluster", "payload.check"))
    assert params["page-on-outage"] == RerouteParams("pagerduty")
    assert params["approve-large-refunds"] == ApprovalParams(
        "slack", 3600, "Refund over 1000 requires manager approval"
    )


def test_spec_worked_example() -> None:
    action = make_action({"to": "bob@example.com", "internal_note": "secret"}, namespace="notifications")
    verdict = example_rules().evaluate(action, datetime(2026, 2, 9, 15, 0, tzinfo=UTC))
    assert verdict.kind is VerdictKind.DEDUPLICATE
    assert verdict.matched_rule == "dedup-welcome"
    assert verdict.params == DedupParams(ttl_seconds=300)
    assert verdict.modified_by == ("add-tracking",)
    assert verdict.action.payload == {"to": "bob@example.com", "tracking_enabled": True, "source": "tidegate"}


@pytest.mark.parametrize(
    ("fields", "payload", "rule"),
    [
        ({"action_type": "spam"}, {}, "block-spam"),
        ({"namespace": "prod"}, {}, "deny-untagged-prod"),
        ({"namespace": "prod", "metadata": {"owner": "x", "source": "ci"}}, {}, "allow-healthchecks"),
        ({"metadata": {"source": "healthcheck"}, "action_type": "alert_x"}, {}, "allow-healthchecks"),
        (
            {"action_type": "process_refund", "provider": "stripe"},
            {"amount": 1000.5},
            "approve-large-refunds",
        ),
        ({"action_type": "process_refund", "provider": "stripe"}, {"amount": "5000"}, None),
        ({"action_type": "send_email"}, {"to": "bob@other.com"}, "add-tracking"),
        ({"action_type": "alert_disk", "provider": "slack"}, {}, "throttle-per-recipient"),
        ({"metadata": {"severity": "critical"}, "provider": "slack"}, {}, "throttle-per-recipient"),
        ({"provider": "slack"}, {"recipients": [{"email": "a@vip.example.com"}]}, "first-recipient-vip"),
        ({"provider": "slack"}, {"recipients": [{"email": "a@x.io"}, {"email": "b@vip.example.com"}]}, None),
        ({"action_type": "cluster_cpu", "provider": "slack"}, {}, "group-cluster-alerts"),
        ({"action_type": "alert", "provider": "slack"}, {}, "alert-lifecycle"),
        ({"action_type": "research", "provider": "slack"}, {}, None),
    ],
)
def test_spec_examples_route(fields: dict[str, object], payload: JsonValue, rule: str | None) -> None:
    verdict = example_rules().evaluate(
        make_action(payload, **fields), datetime(2026, 2, 9, 15, 0, tzinfo=UTC)
    )
    assert verdict.matched_rule == rule


def test_spec_examples_semantic_reroute() -> None:
    action = make_action({"severity": 1, "description": "Servers are down"}, provider="slack")
    verdict = example_rules().evaluate(action, NOW, semantic=lambda text, topic, threshold: threshold == 0.75)
    assert (verdict.kind, verdict.matched_rule) == (VerdictKind.REROUTE, "page-on-outage")


def test_runtime_toggle_enables_a_disabled_example_rule() -> None:
    action = make_action({}, action_type="research", provider="slack")
    verdict = example_rules().evaluate(action, NOW, overrides={"research-pipeline": True})
    assert (verdict.kind, verdict.matched_rule) == (VerdictKind.CHAIN, "research-pipeline")


def test_rule_set_requires_unique_names() -> None:
    rule = Rule(name="x", kind=VerdictKind.ALLOW, params=AllowParams(), condition=lambda ctx: True)
    with pytest.raises(ValueError):
        RuleSet([rule, rule])
    assert len(RuleSet([rule])) == 1
    assert [item.name for item in RuleSet([rule])] == ["x"]


def test_modify_rules_need_modify_params() -> None:
    rule = Rule(name="m", kind=VerdictKind.MODIFY, params=AllowParams(), condition=lambda ctx: True)
    with pytest.raises(ValueError, match="modify rules need ModifyParams"):
        RuleSet([rule])


def test_context_replaces_naive_now() -> None:
    assert EvalContext(make_action(), datetime(2026, 1, 1)).now.tzinfo is UTC


def test_semantic_topics_are_distinct_in_rule_order() -> None:
    rules = load(
        """
rules:
  - {name: b, priority: 2, condition: {semantic_match: two}, action: {type: deny}}
  - name: a
    priority: 1
    condition: {any: [{semantic_match: one}, {semantic_match: two}]}
    action: {type: deny}
  - {name: c, priority: 3, condition: {semantic_match: one}, action: {type: deny}}
""",
        embedding_enabled=True,
    )
    assert rules.semantic_topics == ("one", "two")
    assert [rule.semantic_topics for rule in rules] == [("one", "two"), ("two",), ("one",)]
