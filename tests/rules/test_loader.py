"""Loading rule files (rules.md §1, §2, §9, §10, §13): every problem, with the exact §10 message format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tidegate.errors import ConfigError
from tidegate.model.verdict import (
    ApprovalParams,
    DedupParams,
    DenyParams,
    GroupParams,
    ModifyParams,
    StateMachineParams,
    SuppressParams,
    ThrottleParams,
    VerdictKind,
)
from tidegate.rules import MAX_FILE_BYTES, RuleFileError, RuleLoadError, load_rule_texts, load_rules

from . import examples
from .helpers import NOW, PROVIDERS, load, load_errors, make_action, rule_yaml

TYPES = (
    "allow, deny, suppress, deduplicate, throttle, reroute, modify, group, state_machine, "
    "request_approval, chain"
)

# ---------------------------------------------------------------------------------------------------------
# §10 table, one test per row, exact messages


def test_yaml_syntax_error() -> None:
    text = "rules:\n  - name: r1\n    condition: {all: []}\n    action: {type: allow}\n\n\nbad: key: value\n"
    assert load_errors(text) == ["line 7, column 9: mapping values are not allowed here"]


def test_bad_top_level() -> None:
    message = "top level must be a mapping with the single key 'rules'"
    assert load_errors("- name: r1\n") == [message]
    assert load_errors("rules: []\nextra: 1\n") == [message]
    assert load_errors("rule: []\n") == [message]
    assert load_errors("just text\n") == [message]
    assert load_errors("{}\n") == [message]
    assert load_errors("rules: {name: r1}\n") == ["rules: must be a list"]


def test_second_yaml_document() -> None:
    assert load_errors("rules: []\n---\nrules: []\n") == ["only one YAML document per file is allowed"]
    assert load_errors("rules: []\n---\n") == ["only one YAML document per file is allowed"]


def test_duplicate_mapping_key() -> None:
    text = rule_yaml("\n      field: action.id\n      eq: a\n      eq: b")
    assert load_errors(text) == ["line 6: duplicate key 'eq'"]


def test_duplicate_keys_are_all_reported_in_line_order() -> None:
    text = (
        "rules:\n  - name: r1\n    name: r2\n    condition: {all: [], all: []}\n    action: {type: allow}\n"
    )
    assert load_errors(text) == ["line 3: duplicate key 'name'", "line 4: duplicate key 'all'"]


def test_merge_keys_may_be_overridden_without_a_duplicate() -> None:
    text = """
base: &base {condition: {all: []}, action: {type: deny}}
"""
    assert load_errors(text) == ["top level must be a mapping with the single key 'rules'"]
    text = """
rules:
  - &first {name: r1, condition: {all: []}, action: {type: deny}}
  - <<: *first
    name: r2
"""
    assert [rule.name for rule in load(text)] == ["r1", "r2"]


def test_non_json_yaml_value() -> None:
    text = rule_yaml("{field: action.payload.day, eq: 2026-01-01}")
    assert load_errors(text) == ["rule 'r1': condition.eq: unsupported YAML value (timestamp); quote it"]
    quoted = load(rule_yaml("{field: action.payload.day, eq: '2026-01-01'}"))
    assert quoted.evaluate(make_action({"day": "2026-01-01"}), NOW).matched_rule == "r1"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2026-01-01 10:00:00", "timestamp"),
        ("!!binary aGVsbG8=", "binary"),
        ("!!set {a, b}", "set"),
        ("!!omap [{a: 1}]", "omap"),
        ("!!pairs [{a: 1}]", "pairs"),
        ("!custom x", "!custom"),
        ("!!python/tuple [1, 2]", "tag:yaml.org,2002:python/tuple"),
        (".inf", "non-finite number"),
        (".nan", "non-finite number"),
    ],
)
def test_every_non_json_value_is_refused(value: str, kind: str) -> None:
    text = rule_yaml(action=f"{{type: modify, changes: {{x: [1, {value}]}}}}")
    assert load_errors(text) == [f"rule 'r1': action.changes.x[1]: unsupported YAML value ({kind}); quote it"]


def test_non_json_values_elsewhere_in_a_rule() -> None:
    text = rule_yaml(name="2026-01-01", extra="description: 2026-01-02\npriority: x")
    assert load_errors(text) == [
        "rule #1: name: unsupported YAML value (timestamp); quote it",
        "rule #1: description: unsupported YAML value (timestamp); quote it",
        "rule #1: priority: must be an integer between -1000000 and 1000000",
    ]
    assert load_errors("rules:\n  - 2026-01-01\n") == [
        "rule #1: unsupported YAML value (timestamp); quote it"
    ]


def test_non_string_mapping_keys_are_refused() -> None:
    text = rule_yaml(action="{type: modify, changes: {2: a, yes: b}}")
    assert load_errors(text) == [
        "rule 'r1': action.changes.2: mapping key 2 is not a string; quote it",
        "rule 'r1': action.changes.True: mapping key True is not a string; quote it",
    ]
    assert load_errors(rule_yaml(extra="2026-01-01: x")) == [
        "rule 'r1': unsupported YAML value (timestamp) as a mapping key; quote it"
    ]


def test_recursive_alias_is_refused() -> None:
    text = rule_yaml(action="{type: modify, changes: &a [1, *a]}")
    assert load_errors(text) == ["rule 'r1': action.changes[1]: recursive YAML alias"]


def test_shared_aliases_load_in_linear_time() -> None:
    lines = [
        "rules:",
        "  - name: r1",
        "    condition: {all: []}",
        "    action:",
        "      type: modify",
        "      changes:",
    ]
    lines.append("        l0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]")
    for level in range(1, 30):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"        l{level}: &l{level} [{refs}]")
    rules = load("\n".join(lines) + "\n")  # 10**30 leaves if walked naively
    assert len(rules) == 1


def test_unknown_key() -> None:
    assert load_errors(rule_yaml(action="{type: deny, reson: x}")) == ["rule 'r1': action.reson: unknown key"]
    assert load_errors(rule_yaml(extra="prioirty: 3")) == ["rule 'r1': prioirty: unknown key"]


def test_missing_key() -> None:
    text = """
rules:
  - {name: r1, condition: {all: []}, action: {type: allow}}
  - {name: r2, condition: {all: []}, action: {type: allow}}
  - {condition: {all: []}, action: {type: allow}}
  - {name: r4}
"""
    assert load_errors(text) == [
        "rule #3: name: required",
        "rule 'r4': condition: required",
        "rule 'r4': action: required",
    ]


def test_bad_name_and_duplicate_name() -> None:
    text = """
rules:
  - {name: r1, condition: {all: []}, action: {type: allow}}
  - {name: "bad name", condition: {all: []}, action: {type: allow}}
  - {name: r1, condition: {all: []}, action: {type: allow}}
  - {name: "", condition: {all: []}, action: {type: allow}}
  - {name: 12, condition: {all: []}, action: {type: allow}}
  - {name: no, condition: {all: []}, action: {type: allow}}
"""
    reason = "name: must be 1-128 characters of [A-Za-z0-9._-]"
    assert load_errors(text, name="10-basic.yaml") == [
        f"rule #2: {reason}",
        "rule 'r1': name: duplicate (also defined in 10-basic.yaml)",
        f"rule #4: {reason}",
        f"rule #5: {reason}",
        f"rule #6: {reason}",
    ]


def test_duplicate_name_across_files() -> None:
    files = [
        ("20-extra.yaml", rule_yaml(name="r1")),
        ("10-basic.yaml", rule_yaml(name="r1")),
    ]
    with pytest.raises(RuleLoadError) as info:
        load_rule_texts(files, providers=PROVIDERS)
    assert info.value.errors == [
        RuleFileError("20-extra.yaml", "rule 'r1': name: duplicate (also defined in 10-basic.yaml)")
    ]


def test_name_limits() -> None:
    assert load(rule_yaml(name="A-z_0.9" + "x" * 121)).rules[0].name == "A-z_0.9" + "x" * 121
    assert load_errors(rule_yaml(name="x" * 129)) == [
        "rule #1: name: must be 1-128 characters of [A-Za-z0-9._-]"
    ]
    assert load_errors(rule_yaml(name="a/b")) == ["rule #1: name: must be 1-128 characters of [A-Za-z0-9._-]"]


def test_unknown_verdict_type() -> None:
    assert load_errors(rule_yaml(action="{type: require_approval, message: x}")) == [
        f"rule 'r1': action.type: unknown action type 'require_approval'; expected one of {TYPES}"
    ]
    assert load_errors(rule_yaml(action="{reason: x}")) == ["rule 'r1': action.type: required"]
    assert load_errors(rule_yaml(action="{type: 5}")) == [f"rule 'r1': action.type: must be one of {TYPES}"]
    assert load_errors(rule_yaml(action="deny")) == ["rule 'r1': action: must be a mapping"]


def test_mixed_condition_shapes() -> None:
    assert load_errors(rule_yaml("{all: [], any: []}")) == [
        "rule 'r1': condition: exactly one of all, any, not, field, semantic_match expected"
    ]


def test_predicate_without_operator() -> None:
    assert load_errors(rule_yaml("{any: [{field: action.x}]}")) == [
        "rule 'r1': condition.any[0].field: unknown field 'action.x'",
        "rule 'r1': condition.any[0]: no operator",
    ]
    assert load_errors(rule_yaml("{any: [{field: action.id}]}")) == [
        "rule 'r1': condition.any[0]: no operator"
    ]


def test_unknown_field_path() -> None:
    assert load_errors(rule_yaml("{all: [{field: action.labels.env, eq: x}]}")) == [
        "rule 'r1': condition.all[0].field: unknown field 'action.labels.env'"
    ]


def test_wrong_value_type() -> None:
    assert load_errors(rule_yaml("{field: action.payload.n, gt: [1]}")) == [
        "rule 'r1': condition.gt: must be a number or a string"
    ]


def test_bad_regex() -> None:
    condition = '{all: [{all: []}, {all: []}, {field: action.id, matches: "^foo(bar"}]}'
    assert load_errors(rule_yaml(condition)) == [
        "rule 'r1': condition.all[2].matches: invalid regular expression: "
        "missing ), unterminated subpattern at position 4"
    ]


def test_depth_over_16() -> None:
    condition = "{field: action.id, exists: true}"
    for _ in range(16):
        condition = f"{{not: {condition}}}"
    assert load_errors(rule_yaml(condition)) == ["rule 'r1': condition: nesting deeper than 16"]


def test_out_of_range_parameter() -> None:
    assert load_errors(rule_yaml(action="{type: deduplicate, ttl_seconds: 0}")) == [
        "rule 'r1': action.ttl_seconds: must be an integer between 1 and 31536000"
    ]


def test_invalid_time_zone() -> None:
    assert load_errors(rule_yaml(extra="timezone: Mars/Base")) == [
        "rule 'r1': timezone: unknown time zone 'Mars/Base'"
    ]


@pytest.mark.parametrize("zone", ["America", "", "../etc/passwd", "/etc/localtime", "utc "])
def test_other_invalid_time_zones(zone: str) -> None:
    assert load_errors(rule_yaml(extra=f"timezone: '{zone}'")) == [
        f"rule 'r1': timezone: unknown time zone '{zone}'"
    ]


def test_unknown_provider() -> None:
    assert load_errors(rule_yaml(action="{type: reroute, target_provider: sms}"), providers={"email"}) == [
        "rule 'r1': action.target_provider: unknown provider 'sms'"
    ]
    assert load_errors(rule_yaml(action="{type: request_approval, notify_provider: chat}")) == [
        "rule 'r1': action.notify_provider: unknown provider 'chat'"
    ]
    assert load_errors(rule_yaml(action="{type: group, group_by: [tenant], notify_provider: chat}")) == [
        "rule 'r1': action.notify_provider: unknown provider 'chat'"
    ]


def test_unknown_chain_and_state_machine() -> None:
    assert load_errors(rule_yaml(action="{type: chain, chain: research}"), chains={"other"}) == [
        "rule 'r1': action.chain: unknown chain 'research'"
    ]
    assert load_errors(rule_yaml(action="{type: state_machine, state_machine: incident}")) == [
        "rule 'r1': action.state_machine: unknown state machine 'incident'"
    ]


def test_unknown_key_path() -> None:
    assert load_errors(rule_yaml(action="{type: group, group_by: [metadata.cluster, labels.cluster]}")) == [
        "rule 'r1': action.group_by[1]: unknown field 'labels.cluster'"
    ]


def test_semantic_match_without_embeddings() -> None:
    assert load_errors(rule_yaml("{semantic_match: outage}")) == [
        "rule 'r1': condition.semantic_match: requires embedding.enabled = true"
    ]
    assert len(load(rule_yaml("{semantic_match: outage}"), embedding_enabled=True)) == 1


def test_unsupported_feature() -> None:
    assert load_errors(rule_yaml("{cel: \"action.action_type == 'x'\"}")) == [
        "rule 'r1': condition.cel: CEL conditions are not supported"
    ]


# ---------------------------------------------------------------------------------------------------------
# §13: every unsupported feature fails loudly


@pytest.mark.parametrize(
    ("condition", "action", "extra", "message"),
    [
        (
            "{state_seen: x}",
            "{type: allow}",
            "",
            "condition.state_seen: state_seen conditions are not supported",
        ),
        (
            "{state_counter: x}",
            "{type: allow}",
            "",
            "condition.state_counter: state_counter conditions are not supported",
        ),
        (
            "{wasm_plugin: p}",
            "{type: allow}",
            "",
            "condition.wasm_plugin: WASM plugin conditions are not supported",
        ),
        (
            "{all: [{call: has_active_event, args: [x]}]}",
            "{type: allow}",
            "",
            "condition.all[0].call: "
            "expression functions (call, e.g. has_active_event inhibition) are not supported",
        ),
        (
            "{has_active_event: x}",
            "{type: allow}",
            "",
            "condition.has_active_event: inhibition (has_active_event) is not supported",
        ),
        (
            "{all: []}",
            "{type: allow}",
            "mute_time_intervals: [x]",
            "mute_time_intervals: mute time intervals are not supported",
        ),
        (
            "{all: []}",
            "{type: allow}",
            "active_time_intervals: [x]",
            "active_time_intervals: active time intervals are not supported",
        ),
        (
            "{all: []}",
            "{type: schedule}",
            "",
            f"action.type: action type 'schedule' is not supported; expected one of {TYPES}",
        ),
        (
            "{all: []}",
            "{type: llm_guardrail}",
            "",
            f"action.type: action type 'llm_guardrail' is not supported; expected one of {TYPES}",
        ),
        (
            "{all: []}",
            "{type: group, group_by: [tenant], template: x}",
            "",
            "action.template: group templates are not supported",
        ),
    ],
)
def test_unsupported_features(condition: str, action: str, extra: str, message: str) -> None:
    assert load_errors(rule_yaml(condition, action, extra=extra)) == [f"rule 'r1': {message}"]


def test_template_is_an_unknown_key_outside_groups() -> None:
    assert load_errors(rule_yaml(action="{type: deny, template: x}")) == [
        "rule 'r1': action.template: unknown key"
    ]


# ---------------------------------------------------------------------------------------------------------
# §2 rule keys and defaults


def test_rule_defaults() -> None:
    rule = load(rule_yaml()).rules[0]
    assert (rule.priority, rule.enabled, rule.description, rule.timezone, dict(rule.metadata)) == (
        0,
        True,
        None,
        "UTC",
        {},
    )
    assert rule.source == "rules.yaml"
    assert rule.kind is VerdictKind.ALLOW


def test_rule_keys() -> None:
    extra = (
        "priority: -5\nenabled: false\ndescription: why\ntimezone: US/Eastern\n"
        "metadata: {team: ops, ticket: '12'}"
    )
    rule = load(rule_yaml(extra=extra)).rules[0]
    assert (rule.priority, rule.enabled, rule.description, rule.timezone, dict(rule.metadata)) == (
        -5,
        False,
        "why",
        "US/Eastern",
        {"team": "ops", "ticket": "12"},
    )


def test_default_timezone_applies_to_rules_without_one() -> None:
    text = rule_yaml("{field: time.hour, eq: 8}")
    rules = load(text, default_timezone="America/New_York")
    assert rules.rules[0].timezone == "America/New_York"
    assert rules.evaluate(make_action(), NOW).matched_rule == "r1"
    assert load(text).evaluate(make_action(), NOW).matched_rule is None


def test_invalid_default_timezone_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        load(rule_yaml(), default_timezone="Mars/Base")
    assert info.value.problems == ["rules.default_timezone: unknown time zone 'Mars/Base'"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("priority: 1000001", "priority: must be an integer between -1000000 and 1000000"),
        ("priority: -1000001", "priority: must be an integer between -1000000 and 1000000"),
        ("priority: 1.5", "priority: must be an integer between -1000000 and 1000000"),
        ("priority: true", "priority: must be an integer between -1000000 and 1000000"),
        ("priority: '1'", "priority: must be an integer between -1000000 and 1000000"),
        ("enabled: 'false'", "enabled: must be a boolean"),
        ("enabled: 0", "enabled: must be a boolean"),
        ("description: 5", "description: must be a string of at most 1024 characters"),
        (f"description: {'x' * 1025}", "description: must be a string of at most 1024 characters"),
        ("timezone: 5", "timezone: must be a string"),
        ("metadata: [a]", "metadata: must be a mapping of strings"),
        ("metadata: {n: 1}", "metadata.n: must be a string"),
    ],
)
def test_rule_key_types(extra: str, message: str) -> None:
    assert load_errors(rule_yaml(extra=extra)) == [f"rule 'r1': {message}"]


def test_rule_key_bounds_are_inclusive() -> None:
    for extra in (
        "priority: 1000000",
        "priority: -1000000",
        f"description: {'x' * 1024}",
        "description: null",
    ):
        assert len(load(rule_yaml(extra=extra))) == 1


def test_rule_must_be_a_mapping() -> None:
    assert load_errors("rules:\n  - just a string\n  - [1]\n") == [
        "rule #1: must be a mapping",
        "rule #2: must be a mapping",
    ]


def test_condition_must_be_a_mapping() -> None:
    assert load_errors(rule_yaml("true")) == ["rule 'r1': condition: must be a mapping"]


# ---------------------------------------------------------------------------------------------------------
# §9 verdict parameters and their bounds


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("{type: deny}", DenyParams()),
        ("{type: deny, reason: r}", DenyParams("r")),
        ("{type: suppress, reason: null}", SuppressParams()),
        ("{type: deduplicate}", DedupParams(86400)),
        ("{type: deduplicate, ttl_seconds: 31536000}", DedupParams(31536000)),
        ("{type: throttle, max_count: 1, window_seconds: 86400}", ThrottleParams(1, 86400)),
        (
            "{type: throttle, max_count: 99999999, window_seconds: 1, "
            "key_fields: [action.tenant, metadata.a], message: m}",
            ThrottleParams(99999999, 1, ("tenant", "metadata.a"), "m"),
        ),
        ("{type: modify, changes: {a: {b: [1]}}}", ModifyParams({"a": {"b": [1]}})),
        ("{type: modify, changes: 0}", ModifyParams(0)),
        ("{type: modify, changes: false}", ModifyParams(False)),
        ("{type: group, group_by: [action.metadata.cluster]}", GroupParams(("metadata.cluster",))),
        (
            "{type: group, group_by: [tenant], group_wait_seconds: 0, group_interval_seconds: 86400, "
            "repeat_interval_seconds: 86400, max_group_size: 10000}",
            GroupParams(("tenant",), 0, 86400, 86400, 10000),
        ),
        (
            "{type: group, group_by: [tenant], repeat_interval_seconds: 604800, max_group_size: 1, "
            "notify_provider: slack}",
            GroupParams(("tenant",), 30, 300, 604800, 1, "slack"),
        ),
        ("{type: group, group_by: [tenant], repeat_interval_seconds: null}", GroupParams(("tenant",))),
        ("{type: state_machine, state_machine: alert}", StateMachineParams("alert")),
        (
            "{type: state_machine, state_machine: alert, fingerprint_fields: [action.payload.check, id]}",
            StateMachineParams("alert", ("payload.check", "id")),
        ),
        ("{type: request_approval, notify_provider: slack}", ApprovalParams("slack", 3600)),
        (
            "{type: request_approval, notify_provider: slack, timeout_seconds: 60, message: hi}",
            ApprovalParams("slack", 60, "hi"),
        ),
        (
            "{type: request_approval, notify_provider: slack, timeout_seconds: 604800}",
            ApprovalParams("slack", 604800),
        ),
    ],
)
def test_valid_parameters(action: str, params: object) -> None:
    rule = load(rule_yaml(action=action), state_machines={"alert"}).rules[0]
    assert rule.params == params


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{type: allow, reason: x}", "action.reason: unknown key"),
        ("{type: deny, reason: 5}", "action.reason: must be a string of at most 1024 characters"),
        (
            f"{{type: suppress, reason: {'x' * 1025}}}",
            "action.reason: must be a string of at most 1024 characters",
        ),
        (
            "{type: deduplicate, ttl_seconds: 31536001}",
            "action.ttl_seconds: must be an integer between 1 and 31536000",
        ),
        (
            "{type: deduplicate, ttl_seconds: '300'}",
            "action.ttl_seconds: must be an integer between 1 and 31536000",
        ),
        (
            "{type: deduplicate, ttl_seconds: 300.0}",
            "action.ttl_seconds: must be an integer between 1 and 31536000",
        ),
        ("{type: throttle, window_seconds: 60}", "action.max_count: required"),
        (
            "{type: throttle, max_count: 0, window_seconds: 60}",
            "action.max_count: must be an integer of at least 1",
        ),
        ("{type: throttle, max_count: 1}", "action.window_seconds: required"),
        (
            "{type: throttle, max_count: 1, window_seconds: 86401}",
            "action.window_seconds: must be an integer between 1 and 86400",
        ),
        (
            "{type: throttle, max_count: 1, window_seconds: 1, key_fields: payload.to}",
            "action.key_fields: must be a list",
        ),
        (
            "{type: throttle, max_count: 1, window_seconds: 1, key_fields: [1]}",
            "action.key_fields[0]: must be a string",
        ),
        (
            "{type: throttle, max_count: 1, window_seconds: 1, key_fields: [to]}",
            "action.key_fields[0]: unknown field 'to'",
        ),
        (
            f"{{type: throttle, max_count: 1, window_seconds: 1, message: {'x' * 1025}}}",
            "action.message: must be a string of at most 1024 characters",
        ),
        ("{type: reroute}", "action.target_provider: required"),
        ("{type: reroute, target_provider: 5}", "action.target_provider: must be a string"),
        ("{type: modify}", "action.changes: required"),
        ("{type: modify, changes: null}", "action.changes: must not be null"),
        ("{type: modify, changes: {a: 1}, patch: {}}", "action.patch: unknown key"),
        ("{type: group}", "action.group_by: required"),
        ("{type: group, group_by: []}", "action.group_by: must be a non-empty list"),
        (
            "{type: group, group_by: [tenant], group_wait_seconds: -1}",
            "action.group_wait_seconds: must be an integer between 0 and 86400",
        ),
        (
            "{type: group, group_by: [tenant], group_interval_seconds: 0}",
            "action.group_interval_seconds: must be an integer between 1 and 86400",
        ),
        (
            "{type: group, group_by: [tenant], repeat_interval_seconds: 299}",
            "action.repeat_interval_seconds: must be an integer between 300 and 604800",
        ),
        (
            "{type: group, group_by: [tenant], group_interval_seconds: 60, repeat_interval_seconds: 59}",
            "action.repeat_interval_seconds: must be an integer between 60 and 604800",
        ),
        (
            "{type: group, group_by: [tenant], repeat_interval_seconds: 604801}",
            "action.repeat_interval_seconds: must be an integer between 300 and 604800",
        ),
        (
            "{type: group, group_by: [tenant], max_group_size: 10001}",
            "action.max_group_size: must be an integer between 1 and 10000",
        ),
        ("{type: state_machine}", "action.state_machine: required"),
        (
            "{type: state_machine, state_machine: alert, fingerprint_fields: [payload]}",
            "action.fingerprint_fields[0]: unknown field 'payload'",
        ),
        ("{type: request_approval}", "action.notify_provider: required"),
        (
            "{type: request_approval, notify_provider: slack, timeout_seconds: 59}",
            "action.timeout_seconds: must be an integer between 60 and 604800",
        ),
        (
            "{type: request_approval, notify_provider: slack, timeout_seconds: 604801}",
            "action.timeout_seconds: must be an integer between 60 and 604800",
        ),
        (
            f"{{type: request_approval, notify_provider: slack, message: {'x' * 4097}}}",
            "action.message: must be a string of at most 4096 characters",
        ),
        (
            "{type: request_approval, notify_provider: slack, ttl_seconds: 60}",
            "action.ttl_seconds: unknown key",
        ),
        ("{type: chain}", "action.chain: required"),
        ("{type: chain, chain_name: research}", "action.chain_name: unknown key"),
    ],
)
def test_invalid_parameters(action: str, message: str) -> None:
    errors = load_errors(rule_yaml(action=action), state_machines={"alert"}, chains={"research"})
    assert f"rule 'r1': {message}" in errors


def test_all_parameter_problems_are_collected() -> None:
    action = "{type: group, group_by: [x, y], group_wait_seconds: -1, max_group_size: 0, color: red}"
    assert load_errors(rule_yaml(action=action)) == [
        "rule 'r1': action.color: unknown key",
        "rule 'r1': action.group_by[0]: unknown field 'x'",
        "rule 'r1': action.group_by[1]: unknown field 'y'",
        "rule 'r1': action.group_wait_seconds: must be an integer between 0 and 86400",
        "rule 'r1': action.max_group_size: must be an integer between 1 and 10000",
    ]


# ---------------------------------------------------------------------------------------------------------
# file-level behaviour


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "\n\n", "---\n", "rules:\n", "rules: []\n", "rules: null\n"]
)
def test_empty_files_contribute_no_rules(text: str) -> None:
    assert len(load(text)) == 0


def test_errors_of_every_file_and_rule_are_collected() -> None:
    files = [
        ("a.yaml", rule_yaml("{field: action.nope, eq: 1}", name="a1") + "  - {name: a2}\n"),
        ("b.yaml", "rules: [\n"),
        ("c.yaml", rule_yaml(name="c1")),
        ("d.yaml", "rules: 5\n"),
    ]
    with pytest.raises(RuleLoadError) as info:
        load_rule_texts(files, providers=PROVIDERS)
    assert [(error.file, error.message) for error in info.value.errors] == [
        ("a.yaml", "rule 'a1': condition.field: unknown field 'action.nope'"),
        ("a.yaml", "rule 'a2': condition: required"),
        ("a.yaml", "rule 'a2': action: required"),
        ("b.yaml", "line 2, column 1: expected the node content, but found '<stream end>'"),
        ("d.yaml", "rules: must be a list"),
    ]
    assert info.value.problems == [str(error) for error in info.value.errors]
    assert info.value.errors[0].to_json() == {
        "file": "a.yaml",
        "message": "rule 'a1': condition.field: unknown field 'action.nope'",
    }


def test_file_size_limit() -> None:
    filler = "#" * (MAX_FILE_BYTES - len("rules: []\n") - 1) + "\n"
    assert len(load("rules: []\n" + filler)) == 0
    assert load_errors("rules: []\n" + filler + "#") == ["file is larger than 1 MiB (1048576 bytes)"]


def test_file_must_be_utf8() -> None:
    assert load_errors(b"rules: []\n# caf\xe9\n") == ["file is not valid UTF-8 (byte 15)"]
    assert len(load_rule_texts([("bom.yaml", b"\xef\xbb\xbfrules: []\n")], providers=PROVIDERS)) == 0
    unicode = rule_yaml("{field: action.payload.city, eq: Zürich}")
    assert load(unicode).evaluate(make_action({"city": "Zürich"}), NOW).matched_rule == "r1"


def test_control_characters_are_yaml_errors() -> None:
    assert load_errors("rules: []\n# \x01\n") == [
        "line 2, column 3: unacceptable character #x0001: special characters are not allowed"
    ]


# ---------------------------------------------------------------------------------------------------------
# directories


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_directory_discovery(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", rule_yaml(name="b", extra="priority: 1"))
    write(tmp_path, "a.yaml", rule_yaml(name="a", extra="priority: 1"))
    write(tmp_path, "C.YAML", "not: [loaded")
    write(tmp_path, "notes.txt", "ignored")
    write(tmp_path, "x.yaml.bak", "ignored: [")
    write(tmp_path, ".a.yaml.swp", "ignored: [")
    write(tmp_path, ".hidden.yaml", "ignored: [")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "inner.yaml", "ignored: [")
    (tmp_path / "dir.yaml").mkdir()
    rules = load_rules(tmp_path, providers=PROVIDERS)
    assert [(rule.name, rule.source) for rule in rules] == [("a", "a.yaml"), ("b", "b.yml")]


def test_symlinks_are_followed(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    target = write(tmp_path, "elsewhere.txt", rule_yaml(name="linked"))
    os.symlink(target, rules_dir / "10-linked.yaml")
    os.symlink(tmp_path / "missing.yaml", rules_dir / "20-dangling.yaml")
    assert [rule.source for rule in load_rules(rules_dir, providers=PROVIDERS)] == ["10-linked.yaml"]


def test_directory_file_order_is_code_point_order(tmp_path: Path) -> None:
    for number, name in enumerate(("a.yaml", "2-extra.yaml", "10-basic.yaml", "Z.yaml", "é.yaml")):
        write(tmp_path, name, rule_yaml(name=f"r{number}"))
    assert [rule.source for rule in load_rules(tmp_path, providers=PROVIDERS)] == [
        "10-basic.yaml",
        "2-extra.yaml",
        "Z.yaml",
        "a.yaml",
        "é.yaml",
    ]


def test_directory_errors_name_the_relative_file(tmp_path: Path) -> None:
    write(tmp_path, "10-basic.yaml", rule_yaml())
    write(tmp_path, "20-bad.yaml", rule_yaml(name="r1"))
    with pytest.raises(RuleLoadError) as info:
        load_rules(tmp_path, providers=PROVIDERS)
    assert info.value.errors == [
        RuleFileError("20-bad.yaml", "rule 'r1': name: duplicate (also defined in 10-basic.yaml)")
    ]


def test_oversized_file_in_directory(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 10))
    with pytest.raises(RuleLoadError) as info:
        load_rules(tmp_path, providers=PROVIDERS)
    assert info.value.errors == [RuleFileError("big.yaml", "file is larger than 1 MiB (1048576 bytes)")]


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "rules"
    assert len(load_rules(missing, providers=PROVIDERS, missing_ok=True)) == 0
    with pytest.raises(RuleLoadError) as info:
        load_rules(missing, providers=PROVIDERS)
    assert info.value.errors == [RuleFileError(str(missing), "rules directory not found")]


def test_directory_that_is_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "rules", "x")
    with pytest.raises(RuleLoadError) as info:
        load_rules(path, providers=PROVIDERS, missing_ok=True)
    assert info.value.errors == [RuleFileError(str(path), "rules directory is not a directory")]


def test_spec_examples_from_a_directory(tmp_path: Path) -> None:
    for name, text in examples.FILES.items():
        write(tmp_path, name, text)
    rules = load_rules(
        tmp_path,
        providers=examples.PROVIDERS,
        chains=examples.CHAINS,
        state_machines=examples.STATE_MACHINES,
        embedding_enabled=True,
    )
    assert len(rules) == 13
    with pytest.raises(RuleLoadError) as info:
        load_rules(tmp_path, providers=examples.PROVIDERS - {"pagerduty"}, chains=examples.CHAINS)
    assert [str(error) for error in info.value.errors] == [
        "20-workflow.yaml: rule 'alert-lifecycle': action.state_machine: unknown state machine 'alert'",
        "30-time-and-meaning.yaml: rule 'page-on-outage': condition.all[1].semantic_match: "
        "requires embedding.enabled = true",
        "30-time-and-meaning.yaml: rule 'page-on-outage': "
        "action.target_provider: unknown provider 'pagerduty'",
    ]


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tidegate.rules import loader

    write(tmp_path, "a.yaml", rule_yaml())

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(loader, "open", refuse, raising=False)
    with pytest.raises(RuleLoadError) as info:
        load_rules(tmp_path, providers=PROVIDERS)
    assert info.value.errors == [RuleFileError("a.yaml", "cannot read file: Permission denied")]


def test_unreadable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(RuleLoadError) as info:
        load_rules(tmp_path, providers=PROVIDERS)
    assert info.value.errors == [
        RuleFileError(str(tmp_path), "cannot read rules directory: Permission denied")
    ]


def test_yaml_structure_errors() -> None:
    assert load_errors("? [a]\n: 1\n") == ["line 1, column 3: found unhashable key"]
    assert load_errors("rules: " + "[" * 600 + "]" * 600 + "\n") == ["YAML nesting is too deep"]
    assert load_errors("rules: *missing\n") == ["line 1, column 8: found undefined alias 'missing'"]


def test_bare_equals_sign_is_a_string() -> None:
    rules = load(rule_yaml("{field: action.payload.op, eq: =}"))
    assert rules.evaluate(make_action({"op": "="}), NOW).matched_rule == "r1"
