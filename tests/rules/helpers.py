"""Small builders shared by the rules tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tidegate.model.action import Action
from tidegate.model.json import JsonValue
from tidegate.rules import (
    EvalContext,
    RuleLoadError,
    RuleSet,
    compile_condition,
    compile_field,
    loads_rules_text,
)

#: Monday 2026-02-09 13:30:15 UTC = 08:30:15 in New York (EST, UTC-5).
NOW = datetime(2026, 2, 9, 13, 30, 15, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
PROVIDERS = frozenset({"email", "sms", "slack", "pagerduty"})


def make_action(payload: JsonValue = None, **fields: Any) -> Action:
    values: dict[str, Any] = {
        "id": "019c3882-7b00-7c21-8d4e-5f6a7b8c9d02",
        "namespace": "notifications",
        "tenant": "acme",
        "provider": "email",
        "action_type": "send_email",
        "payload": {} if payload is None else payload,
    }
    values.update(fields)
    return Action(**values)


def resolve(path: str, action: Action, now: datetime = NOW, zone: ZoneInfo = UTC_ZONE) -> JsonValue:
    return compile_field(path, zone)(EvalContext(action, now))


def holds(condition: object, action: Action, now: datetime = NOW, **options: Any) -> bool:
    compiled, problems = compile_condition(
        condition,
        zone=options.pop("zone", UTC_ZONE),
        embedding_enabled=options.pop("embedding_enabled", True),
    )
    assert compiled is not None, problems
    return compiled.test(EvalContext(action, now, options.pop("semantic", None)))


def load(text: str, name: str = "rules.yaml", **options: Any) -> RuleSet:
    options.setdefault("providers", PROVIDERS)
    return loads_rules_text(name, text, **options)


def load_errors(text: str | bytes, name: str = "rules.yaml", **options: Any) -> list[str]:
    """The messages of a file that must fail to load."""
    options.setdefault("providers", PROVIDERS)
    try:
        loads_rules_text(name, text, **options)
    except RuleLoadError as exc:
        assert all(error.file == name for error in exc.errors)
        return [error.message for error in exc.errors]
    raise AssertionError("the file loaded")


def rule_yaml(
    condition: str = "{all: []}", action: str = "{type: allow}", name: str = "r1", extra: str = ""
) -> str:
    """A one-rule file; ``extra`` lines are added to the rule mapping as written."""
    lines = ["rules:", f"  - name: {name}", f"    condition: {condition}", f"    action: {action}"]
    lines.extend(f"    {line}" for line in extra.splitlines() if line)
    return "\n".join(lines) + "\n"
