"""Chain definitions in config are validated at startup, templates included (features.md §16): every
template expression has a known root and ``steps.NAME`` names another step of the chain."""

from __future__ import annotations

from pathlib import Path

from tidegate.config.loader import validate_data


def messages(steps: list[dict[str, object]]) -> list[str]:
    providers = [{"name": "log", "type": "log"}]
    data = {"providers": providers, "chains": {"definitions": [{"name": "research", "steps": steps}]}}
    settings, issues = validate_data(data, Path("/base"))
    assert (settings is None) == bool(issues)
    return [issue.message for issue in issues]


def test_good_templates_load() -> None:
    steps = [
        {
            "name": "a",
            "provider": "log",
            "action_type": "t",
            "payload_template": {"q": "{{ origin.payload.q }}"},
        },
        {
            "name": "b",
            "provider": "log",
            "action_type": "t",
            "payload_template": ["{{steps.a.body.x}} {{prev.status}}"],
        },
    ]
    assert messages(steps) == []


def test_bad_templates_name_the_chain_step_and_key() -> None:
    steps = [
        {"name": "a", "provider": "log", "action_type": "t", "payload_template": {"q": ["{{ secret.x }}"]}},
        {"name": "b", "provider": "log", "action_type": "t", "payload_template": "{{steps.zz.status}}"},
        {"name": "c", "provider": "log", "action_type": "t", "payload_template": "{{steps.c.status}}"},
    ]
    assert messages(steps) == [
        "config: chains.definitions[0].steps[0].payload_template.q[0]: unknown template root 'secret' in "
        "'secret.x'",
        "config: chains.definitions[0].steps[1].payload_template: unknown step 'zz' in template expression "
        "'steps.zz.status'",
        "config: chains.definitions[0].steps[2].payload_template: template expression 'steps.c.status' names "
        "its own step",
    ]


def test_unknown_provider_is_reported() -> None:
    steps = [{"name": "a", "provider": "sms", "action_type": "t"}]
    assert messages(steps) == ["config: chains.definitions[0].steps[0].provider: unknown provider 'sms'"]
