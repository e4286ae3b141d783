"""Cross-checks and the section rules of config.md §2, each reported with its key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tidegate.config import Settings
from tidegate.config.loader import validate_data

REDIS = {"backend": "redis", "url": "redis://:pw@redis:6379/0"}
PG = "postgresql://u:pw@pg:5432/db"


def messages(data: Mapping[str, object]) -> list[str]:
    settings, issues = validate_data(data, Path("/base"))
    assert settings is None, "expected problems"
    return [i.message for i in issues]


def valid(data: Mapping[str, object]) -> Settings:
    settings, issues = validate_data(data, Path("/base"))
    assert settings is not None, [i.message for i in issues]
    return settings


PROVIDERS = [
    {"name": "log", "type": "log"},
    {"name": "email", "type": "log"},
    {"name": "webhook", "type": "webhook"},
]


def test_provider_names_are_unique() -> None:
    assert messages({"providers": [*PROVIDERS, {"name": "email", "type": "webhook"}]}) == [
        "config: providers[3].name: duplicate provider name 'email'"
    ]


def test_breaker_overrides_name_configured_providers() -> None:
    data = {"providers": PROVIDERS, "circuit_breaker": {"providers": {"sms": {"failure_threshold": 2}}}}
    assert messages(data) == ["config: circuit_breaker.providers.sms: unknown provider 'sms'"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"email": {"fallback_provider": "sms"}},
            ["config: circuit_breaker.providers.email.fallback_provider: unknown provider 'sms'"],
        ),
        (
            {"email": {"fallback_provider": "email"}},
            ["config: circuit_breaker.providers.email.fallback_provider: must not be the provider itself"],
        ),
        (
            {
                "email": {"fallback_provider": "webhook"},
                "webhook": {"fallback_provider": "log"},
                "log": {"fallback_provider": "email"},
            },
            ["config: circuit_breaker.providers: fallback cycle email -> webhook -> log -> email"],
        ),
    ],
)
def test_fallbacks_exist_are_not_self_and_form_no_cycle(
    overrides: dict[str, object], expected: list[str]
) -> None:
    assert messages({"providers": PROVIDERS, "circuit_breaker": {"providers": overrides}}) == expected


def test_a_fallback_chain_without_a_cycle_is_fine() -> None:
    overrides = {"email": {"fallback_provider": "webhook"}, "webhook": {"fallback_provider": "log"}}
    settings = valid({"providers": PROVIDERS, "circuit_breaker": {"enabled": True, "providers": overrides}})
    assert settings.circuit_breaker.policy_for("email").fallback_provider == "webhook"


def test_several_workers_need_shared_backends() -> None:
    assert messages({"server": {"workers": 4}}) == [
        "config: server.workers: 4 workers need state.backend redis or postgres (got 'sqlite')",
        "config: server.workers: 4 workers need a shared stream.backend (redis or postgres), not local",
        "config: server.workers: 4 workers need audit.backend postgres or audit.enabled = false "
        "(got 'sqlite')",
    ]
    assert messages({"server": {"workers": 2}, "state": REDIS, "audit": {"backend": "memory"}}) == [
        "config: server.workers: 2 workers need audit.backend postgres or audit.enabled = false "
        "(got 'memory')"
    ]


@pytest.mark.parametrize(
    "data",
    [
        {"server": {"workers": 4}, "state": REDIS, "audit": {"backend": "postgres", "url": PG}},
        {
            "server": {"workers": 4},
            "state": {"backend": "postgres", "url": PG},
            "audit": {"backend": "postgres"},
        },
        {"server": {"workers": 2}, "state": REDIS, "audit": {"enabled": False}},
        {"server": {"workers": 2}, "state": REDIS, "stream": {"enabled": False}, "audit": {"enabled": False}},
    ],
)
def test_several_workers_with_shared_backends(data: dict[str, object]) -> None:
    assert valid(data).server.workers > 1


def test_audit_postgres_needs_a_url() -> None:
    assert messages({"audit": {"backend": "postgres"}}) == [
        "config: audit.url: required when audit.backend is postgres (and state.backend is not)"
    ]
    assert valid({"audit": {"backend": "postgres", "enabled": False}}).audit.url is None
    assert (
        valid({"state": {"backend": "postgres", "url": PG}, "audit": {"backend": "postgres"}}).audit.url == PG
    )


def test_a_shared_stream_backend_needs_a_url_unless_state_shares_it() -> None:
    assert messages({"stream": {"backend": "redis"}}) == [
        "config: stream.url: required when stream.backend is redis (and state.backend is not)"
    ]
    assert valid({"stream": {"backend": "redis", "url": "redis://r/0"}}).stream_backend == "redis"
    assert valid({"state": REDIS, "stream": {"backend": "redis"}}).stream.url == REDIS["url"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"state": {"backend": "redis"}}, "config: state.url: required when state.backend is redis"),
        ({"state": {"backend": "postgres"}}, "config: state.url: required when state.backend is postgres"),
        (
            {"state": {"backend": "redis", "url": PG}},
            "config: state.url: must be a redis:// or rediss:// URL for backend redis",
        ),
        (
            {"audit": {"backend": "postgres", "url": "redis://r/0"}},
            "config: audit.url: must be a postgresql:// or postgres:// URL for backend postgres",
        ),
        ({"auth": {"enabled": True}}, "config: auth.jwt_secret: required when auth.enabled is true"),
        ({"auth": {"jwt_secret": "x" * 31}}, "config: auth.jwt_secret: must be at least 32 bytes"),
        (
            {"approvals": {"keys": [{"kid": "k", "secret": "ab" * 31}]}},
            "config: approvals.keys[0].secret: must be hex of at least 64 characters (32 bytes)",
        ),
        (
            {"approvals": {"keys": [{"kid": "k", "secret": "zz" * 32}]}},
            "config: approvals.keys[0].secret: must be hex of at least 64 characters (32 bytes)",
        ),
        (
            {"approvals": {"keys": [{"kid": "k", "secret": "a" * 65}]}},
            "config: approvals.keys[0].secret: must be hex of at least 64 characters (32 bytes)",
        ),
        (
            {"approvals": {"keys": [{"kid": "k", "secret": "ab" * 32}, {"kid": "k", "secret": "cd" * 32}]}},
            "config: approvals.keys[1].kid: duplicate kid 'k'",
        ),
        (
            {"server": {"cors": {"allowed_origins": ["*"], "allow_credentials": True}}},
            "config: server.cors.allowed_origins: '*' cannot be combined with allow_credentials = true",
        ),
        (
            {"tracing": {"enabled": True}},
            "config: tracing.otlp_endpoint: required when tracing.enabled is true",
        ),
        (
            {"executor": {"backoff_base_ms": 500, "backoff_max_ms": 100}},
            "config: executor.backoff_max_ms: must be at least backoff_base_ms (500) (got 100)",
        ),
    ],
)
def test_section_rules(data: dict[str, object], expected: str) -> None:
    assert messages(data) == [expected]


def test_section_rules_pass() -> None:
    settings = valid(
        {
            "auth": {"enabled": True, "jwt_secret": "é" * 16},  # 32 bytes in UTF-8
            "approvals": {"keys": [{"kid": "2026-02", "secret": "AB" * 32}]},
            "server": {"cors": {"allowed_origins": ["*"]}},
            "tracing": {"enabled": True, "otlp_endpoint": "http://collector:4318"},
            "executor": {"backoff_base_ms": 500, "backoff_max_ms": 500},
        }
    )
    assert settings.auth.enabled


def test_cross_checks_still_run_when_another_section_fails() -> None:
    data = {"server": {"port": 0}, "providers": [*PROVIDERS, {"name": "log", "type": "log"}]}
    assert messages(data) == [
        "config: server.port: must be an integer between 1 and 65535 (got 0)",
        "config: providers[3].name: duplicate provider name 'log'",
    ]


def test_cross_checks_that_read_a_failed_section_are_skipped() -> None:
    # providers failed, so the breaker's reference to 'email' cannot be judged and is not reported
    data = {
        "providers": [{"name": "email", "type": "sms"}],
        "circuit_breaker": {"providers": {"email": {"fallback_provider": "nope"}}},
    }
    assert messages(data) == [
        "config: providers[0].type: must be one of 'log', 'webhook', 'email', 'slack' (got 'sms')"
    ]


def test_chain_steps_and_state_machines_name_configured_providers() -> None:
    data = {
        "providers": PROVIDERS,
        "chains": {
            "definitions": [{"name": "c", "steps": [{"name": "a", "provider": "sms", "action_type": "t"}]}]
        },
        "state_machines": [
            {"name": "m", "initial_state": "a", "states": ["a"], "notify_provider": "pager"},
            {"name": "m", "initial_state": "a", "states": ["a"]},
        ],
    }
    assert messages(data) == [
        "config: state_machines[1].name: duplicate state machine name 'm'",
        "config: state_machines[0].notify_provider: unknown provider 'pager'",
        "config: chains.definitions[0].steps[0].provider: unknown provider 'sms'",
    ]
