"""Problem messages (config.md §2): full key paths, suggestions, rules and values, never a secret."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tidegate.config.loader import validate_data
from tidegate.config.messages import format_key


def messages(data: Mapping[str, object]) -> list[str]:
    settings, issues = validate_data(data, Path("/base"))
    assert settings is None
    return [i.message for i in issues]


def test_format_key() -> None:
    assert format_key(("server", "port")) == "server.port"
    assert format_key(("providers", 1, "headers", "X-Key")) == "providers[1].headers.X-Key"
    assert format_key(("state_machines", 0, "states", 3)) == "state_machines[0].states[3]"
    assert format_key(()) == ""


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"server": {"prot": 1}}, "config: unknown key 'server.prot' (did you mean 'server.port'?)"),
        ({"servr": {}}, "config: unknown key 'servr' (did you mean 'server'?)"),
        ({"zzz": 1}, "config: unknown key 'zzz'"),
        (
            {"server": {"cors": {"allowed_origin": []}}},
            "config: unknown key 'server.cors.allowed_origin' (did you mean 'server.cors.allowed_origins'?)",
        ),
        (
            {"providers": [{"name": "w", "type": "webhook", "urll": "x"}]},
            "config: unknown key 'providers[0].urll' (did you mean 'providers[0].url'?)",
        ),
        (
            {"providers": [{"name": "w", "type": "webhook", "host": "smtp"}]},
            "config: unknown key 'providers[0].host'",
        ),
        (
            {"circuit_breaker": {"providers": {"log": {"fallback": "webhook"}}}},
            "config: unknown key 'circuit_breaker.providers.log.fallback' "
            "(did you mean 'circuit_breaker.providers.log.fallback_provider'?)",
        ),
        (
            {"rate_limit": {"tenants": {"overrides": {"acme": {"request_per_window": 5}}}}},
            "config: unknown key 'rate_limit.tenants.overrides.acme.request_per_window' "
            "(did you mean 'rate_limit.tenants.overrides.acme.requests_per_window'?)",
        ),
    ],
)
def test_unknown_keys_name_the_full_path_and_suggest(data: dict[str, object], expected: str) -> None:
    assert messages(data) == [expected]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"server": {"port": "abc"}},
            "config: server.port: must be an integer between 1 and 65535 (got 'abc')",
        ),
        ({"server": {"port": 0}}, "config: server.port: must be an integer between 1 and 65535 (got 0)"),
        (
            {"server": {"port": 8080.5}},
            "config: server.port: must be an integer between 1 and 65535 (got 8080.5)",
        ),
        (
            {"server": {"port": True}},
            "config: server.port: must be an integer between 1 and 65535 (got true)",
        ),
        (
            {"server": {"port": None}},
            "config: server.port: must be an integer between 1 and 65535 (got null)",
        ),
        (
            {"server": {"max_body_bytes": 10}},
            "config: server.max_body_bytes: must be an integer of at least 1024 (got 10)",
        ),
        (
            {"state": {"operation_timeout_seconds": 0}},
            "config: state.operation_timeout_seconds: must be a number between 0.1 and 60 (got 0)",
        ),
        ({"executor": {"jitter": "maybe"}}, "config: executor.jitter: must be true or false (got 'maybe')"),
        (
            {"state": {"backend": "mysql"}},
            "config: state.backend: must be one of 'sqlite', 'memory', 'redis', 'postgres' (got 'mysql')",
        ),
        (
            {"state": {"key_prefix": "has space"}},
            "config: state.key_prefix: must be 1-32 characters of A-Z a-z 0-9 _ - (got 'has space')",
        ),
        (
            {"audit": {"redact_fields": ["ok", 5]}},
            "config: audit.redact_fields[1]: must be a non-empty string (got 5)",
        ),
        (
            {"audit": {"redact_fields": "password"}},
            "config: audit.redact_fields: must be a list (got 'password')",
        ),
        ({"server": 5}, "config: server: must be a mapping (got 5)"),
        ({"server": {"cors": []}}, "config: server.cors: must be a mapping (got a list)"),
        (
            {"rules": {"default_timezone": "Mars/Base"}},
            "config: rules.default_timezone: must be an IANA time zone name such as 'UTC' or 'Europe/Berlin' "
            "(got 'Mars/Base')",
        ),
        (
            {"server": {"external_url": "ftp://gw.example.com"}},
            "config: server.external_url: must be an absolute http or https URL without query or fragment "
            "(got 'ftp://gw.example.com')",
        ),
        (
            {"providers": [{"name": "bad name", "type": "log"}]},
            "config: providers[0].name: must be an identifier (1-256 characters of A-Z a-z 0-9 . _ : -) "
            "(got 'bad name')",
        ),
        (
            {"providers": [{"name": "x", "type": "sms"}]},
            "config: providers[0].type: must be one of 'log', 'webhook', 'email', 'slack' (got 'sms')",
        ),
        ({"providers": [{"name": "x"}]}, "config: providers[0].type: required"),
        ({"providers": [5]}, "config: providers[0]: must be a mapping"),
        ({"providers": [{"type": "log"}]}, "config: providers[0].name: required"),
        (
            {"providers": [{"name": "m", "type": "email", "host": "h", "from": "nobody"}]},
            "config: providers[0].from: must be an email address (got 'nobody')",
        ),
        (
            {"state_machines": [{"name": "m", "initial_state": "a", "states": []}]},
            "config: state_machines[0].states: must be a list of 1 to 100 items (got a list)",
        ),
    ],
)
def test_type_and_range_messages_name_the_rule_and_the_value(data: dict[str, object], expected: str) -> None:
    assert messages(data) == [expected]


def test_missing_required_keys() -> None:
    assert messages({"providers": [{"name": "m", "type": "email"}]}) == [
        "config: providers[0].host: required",
        "config: providers[0].from: required",
    ]


SECRET = "hunter2-hunter2-hunter2"


@pytest.mark.parametrize(
    "data",
    [
        {"auth": {"jwt_secret": SECRET}},
        {"auth": {"jwt_secret": 12345}},
        {"approvals": {"keys": [{"kid": "k", "secret": SECRET}]}},
        {"approvals": {"keys": [SECRET]}},
        {"embedding": {"api_key": ["not", SECRET]}},
        {"providers": [{"name": "s", "type": "slack", "webhook_url": f"http://hooks.slack.com/{SECRET}"}]},
        {"providers": [{"name": "w", "type": "webhook", "headers": {"Authorization": [SECRET]}}]},
        {"providers": [{"name": "w", "type": "webhook", "headers": SECRET}]},
        {"providers": [{"name": "m", "type": "email", "host": "h", "from": "a@b.c", "password": [SECRET]}]},
        {"state": {"backend": "redis", "url": f"http://user:{SECRET}@redis:6379"}},
        {"server": {"external_url": f"https://user:{SECRET}@gw.example.com/?q=1"}},
    ],
)
def test_secret_values_are_never_printed(data: dict[str, object]) -> None:
    found = messages(data)
    assert found
    assert all(SECRET not in m for m in found), found


def test_url_passwords_are_masked_in_quoted_values() -> None:
    assert messages({"server": {"external_url": "https://u:pw@gw.example.com/?q=1"}}) == [
        "config: server.external_url: must be an absolute http or https URL without query or fragment "
        "(got 'https://u:**********@gw.example.com/?q=1')"
    ]


def test_long_values_are_shortened() -> None:
    (message,) = messages({"state": {"backend": "x" * 500}})
    assert message.endswith("...')") and len(message) < 250
