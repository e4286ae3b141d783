"""The settings model: the embedded default (config.md §3), every key's default (§4) and the helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from tidegate.config import (
    ApprovalKeySettings,
    AuditSettings,
    CircuitBreakerProviderSettings,
    CircuitBreakerSettings,
    EmailProviderSettings,
    EmbeddingSettings,
    LogProviderSettings,
    RateLimitOverride,
    RateLimitScope,
    ServerSettings,
    Settings,
    StateSettings,
    StreamSettings,
    WebhookProviderSettings,
    is_loopback_host,
    load_settings,
)

from .conftest import Write

EMBEDDED_DEFAULT_YAML = """\
server: {host: 127.0.0.1, port: 8080}
state: {backend: sqlite, path: ./data/tidegate.db}
audit: {enabled: true, backend: sqlite, path: ./data/audit.db, retention_days: 30}
stream: {enabled: true, backend: auto}
rules: {directory: ./rules, watch: true}
providers:
  - {name: log, type: log}
  - {name: webhook, type: webhook}
auth: {enabled: false}
background: {enabled: true}
"""


def test_settings_without_a_file_is_the_embedded_default(write: Write, workdir: Path) -> None:
    from_yaml = load_settings(str(write("embedded.yaml", EMBEDDED_DEFAULT_YAML)), env={})
    assert Settings() == from_yaml
    assert load_settings(env={}) == from_yaml


def test_embedded_default_values(workdir: Path) -> None:
    settings = Settings()
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.state.backend == "sqlite"
    assert settings.state.path == workdir / "data" / "tidegate.db"
    assert settings.audit.enabled and settings.audit.backend == "sqlite"
    assert settings.audit.path == workdir / "data" / "audit.db"
    assert settings.audit.retention_days == 30
    assert settings.stream.enabled and settings.stream.backend == "auto"
    assert settings.stream_backend == "local"
    assert settings.rules.directory == workdir / "rules" and settings.rules.watch
    assert [(p.name, p.type) for p in settings.providers] == [("log", "log"), ("webhook", "webhook")]
    assert settings.auth.enabled is False
    assert settings.background.enabled is True


DEFAULTS: list[tuple[str, object]] = [
    ("server.external_url", None),
    ("server.workers", 1),
    ("server.max_sse_connections_per_tenant", 10),
    ("server.max_body_bytes", 1_048_576),
    ("server.max_batch_body_bytes", 10_485_760),
    ("server.batch_concurrency", 32),
    ("server.max_in_flight_dispatches", 5000),
    ("server.shutdown_timeout_seconds", 30),
    ("server.cors.allowed_origins", []),
    ("server.cors.allowed_methods", ["GET", "POST", "PUT", "DELETE"]),
    (
        "server.cors.allowed_headers",
        ["Authorization", "Content-Type", "X-API-Key", "Last-Event-ID", "X-Request-ID"],
    ),
    ("server.cors.allow_credentials", False),
    ("state.url", None),
    ("state.key_prefix", "tidegate"),
    ("state.pool_size", 10),
    ("state.operation_timeout_seconds", 2.0),
    ("state.sweep_interval_seconds", 60),
    ("audit.url", None),
    ("audit.cleanup_interval_seconds", 3600),
    ("audit.store_payload", True),
    ("audit.redact_fields", []),
    ("audit.redact_placeholder", "[REDACTED]"),
    ("audit.sync", True),
    ("audit.batch_size", 256),
    ("audit.batch_delay_ms", 5),
    ("audit.queue_size", 10000),
    ("stream.url", None),
    ("stream.queue_size", 1024),
    ("stream.keep_alive_seconds", 15),
    ("stream.replay_max_events", 10000),
    ("stream.replay_max_age_seconds", 3600),
    ("rules.default_timezone", "UTC"),
    ("rules.sync_interval_seconds", 2.0),
    ("executor.max_retries", 3),
    ("executor.timeout_seconds", 30.0),
    ("executor.max_concurrent", 100),
    ("executor.backoff_base_ms", 100),
    ("executor.backoff_multiplier", 2.0),
    ("executor.backoff_max_ms", 30000),
    ("executor.jitter", True),
    ("circuit_breaker.enabled", False),
    ("circuit_breaker.failure_threshold", 5),
    ("circuit_breaker.success_threshold", 2),
    ("circuit_breaker.recovery_timeout_seconds", 60),
    ("circuit_breaker.probe_timeout_seconds", 30),
    ("circuit_breaker.providers", {}),
    ("background.poll_interval_seconds", 1.0),
    ("background.lease_seconds", 60),
    ("background.max_concurrent_chain_steps", 16),
    ("chains.default_timeout_seconds", 86400),
    ("chains.completed_retention_seconds", 604_800),
    ("chains.definitions", []),
    ("state_machines", []),
    ("approvals.keys", []),
    ("approvals.retention_seconds", 604_800),
    ("approvals.notification_retry_interval_seconds", 60),
    ("auth.watch", True),
    ("auth.jwt_secret", None),
    ("auth.jwt_expiry_seconds", 3600),
    ("auth.login_max_failures", 10),
    ("auth.login_window_seconds", 300),
    ("embedding.enabled", False),
    ("embedding.provider", "local"),
    ("embedding.model", "wordllama-l2-supercat-256"),
    ("embedding.endpoint", "https://api.openai.com/v1/embeddings"),
    ("embedding.timeout_seconds", 10.0),
    ("embedding.fail_open", True),
    ("embedding.max_input_chars", 8192),
    ("embedding.topic_cache_capacity", 10000),
    ("embedding.topic_cache_ttl_seconds", 3600),
    ("embedding.text_cache_capacity", 1000),
    ("embedding.text_cache_ttl_seconds", 60),
    ("rate_limit.enabled", False),
    ("rate_limit.callers.requests_per_window", 1000),
    ("rate_limit.callers.window_seconds", 60),
    ("rate_limit.callers.overrides", {}),
    ("rate_limit.tenants.enabled", False),
    ("rate_limit.tenants.requests_per_window", 10000),
    ("rate_limit.tenants.window_seconds", 60),
    ("recurring.max_per_tenant", 100),
    ("recurring.min_interval_seconds", 60),
    ("recurring.catch_up_window_seconds", 3600),
    ("logging.level", "info"),
    ("logging.format", "text"),
    ("tracing.enabled", False),
    ("tracing.otlp_endpoint", None),
    ("tracing.service_name", "tidegate"),
    ("api.wire_format", "tidegate"),
]


@pytest.mark.parametrize(("dotted", "expected"), DEFAULTS)
def test_every_key_has_its_documented_default(dotted: str, expected: object, workdir: Path) -> None:
    value: object = Settings()
    for part in dotted.split("."):
        value = getattr(value, part)
    assert value == expected


def test_auth_file_defaults_to_auth_yaml_in_the_working_directory(workdir: Path) -> None:
    assert Settings().auth.file == workdir / "auth.yaml"
    assert Settings().embedding.api_key.get_secret_value() == ""


def test_default_provider_keys() -> None:
    log, webhook = Settings().providers
    assert isinstance(log, LogProviderSettings) and log.level == "info"
    assert isinstance(webhook, WebhookProviderSettings)
    assert webhook.url is None and webhook.allow_action_url is True and webhook.verify_tls is True
    assert webhook.headers == {} and webhook.allowed_url_prefixes == []
    assert log.timeout_seconds is None and log.max_concurrent is None


def test_email_defaults_and_the_from_alias() -> None:
    email = EmailProviderSettings.model_validate(
        {"name": "mail", "host": "smtp.example.com", "from": "a@b.example"}
    )
    assert (email.port, email.security, email.username, email.password, email.default_to) == (
        587,
        "starttls",
        None,
        None,
        [],
    )
    assert email.from_ == "a@b.example"
    assert (
        EmailProviderSettings(name="m", host="h", from_="Tide <t@example.com>").from_
        == "Tide <t@example.com>"
    )
    assert email.model_dump(by_alias=True)["from"] == "a@b.example"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, True),
        ({"url": "https://hooks.example.com/x"}, False),
        ({"url": "https://hooks.example.com/x", "allow_action_url": True}, True),
        ({"allow_action_url": False}, False),
    ],
)
def test_webhook_allow_action_url_defaults_to_no_configured_url(
    data: dict[str, object], expected: bool
) -> None:
    webhook = WebhookProviderSettings.model_validate({"name": "w", "type": "webhook", **data})
    assert webhook.allow_action_url is expected


def test_embedding_model_default_depends_on_the_provider() -> None:
    assert EmbeddingSettings(provider="openai").model == "text-embedding-3-small"
    assert EmbeddingSettings(provider="local").model == "wordllama-l2-supercat-256"
    assert EmbeddingSettings(provider="openai", model="custom").model == "custom"


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (ServerSettings(), "http://127.0.0.1:8080"),
        (ServerSettings(host="0.0.0.0", port=9090), "http://127.0.0.1:9090"),
        (ServerSettings(host="::"), "http://127.0.0.1:8080"),
        (ServerSettings(host="::1"), "http://[::1]:8080"),
        (ServerSettings(host="gateway.internal"), "http://gateway.internal:8080"),
        (ServerSettings(external_url="https://gw.example.com/"), "https://gw.example.com"),
        (ServerSettings(external_url="https://gw.example.com/base"), "https://gw.example.com/base"),
    ],
)
def test_effective_external_url(server: ServerSettings, expected: str) -> None:
    assert server.effective_external_url == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("gateway.internal", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
    assert ServerSettings(host=host).is_loopback is loopback


@pytest.mark.parametrize(
    ("state", "stream", "expected"),
    [
        ({}, {}, "local"),
        ({"backend": "memory"}, {}, "local"),
        ({"backend": "redis", "url": "redis://r:6379/0"}, {}, "redis"),
        ({"backend": "postgres", "url": "postgresql://u@p/db"}, {}, "postgres"),
        ({"backend": "redis", "url": "redis://r:6379/0"}, {"backend": "local"}, "local"),
    ],
)
def test_stream_backend_auto_follows_a_shared_state_backend(
    state: dict[str, object], stream: dict[str, object], expected: str
) -> None:
    assert Settings.model_validate({"state": state, "stream": stream}).stream_backend == expected


def test_audit_and_stream_urls_default_to_the_state_url() -> None:
    pg = "postgresql://tidegate:pw@pg.internal:5432/tidegate"
    settings = Settings.model_validate(
        {"state": {"backend": "postgres", "url": pg}, "audit": {"backend": "postgres"}}
    )
    assert settings.audit.url == pg
    assert settings.stream.url == pg
    redis = Settings.model_validate({"state": {"backend": "redis", "url": "redis://r:6379/0"}})
    assert redis.stream.url == "redis://r:6379/0"
    assert redis.audit.url is None  # the audit trail never lives in Redis
    own = Settings.model_validate(
        {
            "state": {"backend": "postgres", "url": pg},
            "audit": {"backend": "postgres", "url": "postgresql://a/b"},
        }
    )
    assert own.audit.url == "postgresql://a/b"


def test_derived_urls_also_apply_to_section_objects() -> None:
    pg = "postgresql://u:pw@pg/db"
    settings = Settings(
        state=StateSettings(backend="postgres", url=pg),
        audit=AuditSettings(backend="postgres"),
        stream=StreamSettings(),
    )
    assert settings.audit.url == pg and settings.stream.url == pg


def test_relative_paths_resolve_against_the_working_directory(workdir: Path) -> None:
    state = StateSettings(path=Path("x/state.db"))
    assert state.path == workdir / "x" / "state.db"
    absolute = workdir / "elsewhere.db"
    assert StateSettings(path=absolute).path == absolute


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.server.port = 1  # type: ignore[misc]


def test_secrets_do_not_show_in_repr() -> None:
    settings = Settings.model_validate({"auth": {"jwt_secret": "s" * 40}})
    assert "s" * 40 not in repr(settings)
    assert isinstance(settings.auth.jwt_secret, SecretStr)
    assert settings.auth.jwt_secret.get_secret_value() == "s" * 40


def test_cross_checks_run_when_settings_are_built_directly() -> None:
    with pytest.raises(ValidationError, match="duplicate provider name 'log'"):
        Settings(providers=[LogProviderSettings(name="log"), LogProviderSettings(name="log")])


def test_circuit_breaker_policy_merges_overrides_over_globals() -> None:
    breaker = CircuitBreakerSettings(
        failure_threshold=7,
        providers={"email": CircuitBreakerProviderSettings(success_threshold=4, fallback_provider="webhook")},
    )
    email = breaker.policy_for("email")
    assert (email.failure_threshold, email.success_threshold, email.fallback_provider) == (7, 4, "webhook")
    assert (email.recovery_timeout_seconds, email.probe_timeout_seconds) == (60, 30)
    other = breaker.policy_for("log")
    assert (other.failure_threshold, other.success_threshold, other.fallback_provider) == (7, 2, None)


def test_rate_limit_overrides() -> None:
    scope = RateLimitScope(
        overrides={"ci": RateLimitOverride(requests_per_window=5), "slow": RateLimitOverride()}
    )
    assert scope.limit_for("ci") == (5, 60)
    assert scope.limit_for("slow") == (1000, 60)
    assert scope.limit_for("anyone") == (1000, 60)


def test_approval_key_bytes() -> None:
    key = ApprovalKeySettings(kid="k1", secret=SecretStr("ab" * 32))
    assert key.key_bytes == bytes([0xAB]) * 32


def test_provider_lookup() -> None:
    settings = Settings()
    webhook = settings.provider("webhook")
    assert webhook is not None and webhook.type == "webhook"
    assert settings.provider("nope") is None
