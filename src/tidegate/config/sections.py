"""The small sections of config.md §4: rules, executor, circuit_breaker, background, embedding, recurring,
logging, tracing and api. Each is a flat list of keys with a type, a range and a default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, SecretStr, model_validator

from tidegate.config._base import (
    ConfigModel,
    Float,
    Identifier,
    Int,
    Problem,
    ResolvedPath,
    Rule,
    check_http_url,
)

__all__ = [
    "ApiSettings",
    "BackgroundSettings",
    "BreakerPolicy",
    "CircuitBreakerProviderSettings",
    "CircuitBreakerSettings",
    "EmbeddingSettings",
    "ExecutorSettings",
    "LoggingSettings",
    "RecurringSettings",
    "RulesSettings",
    "TracingSettings",
]

_OPENAI_MODEL = "text-embedding-3-small"


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name such as 'UTC' or 'Europe/Berlin'") from None
    return name


def _http_url(text: str) -> str:
    return check_http_url(text)


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class RulesSettings(ConfigModel):
    directory: ResolvedPath = Field(Path("rules"), validate_default=True)
    watch: bool = True
    default_timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    sync_interval_seconds: Float = Field(2.0, ge=0.5, le=60)


class ExecutorSettings(ConfigModel):
    max_retries: Int = Field(3, ge=0, le=10)
    timeout_seconds: Float = Field(30.0, ge=0.1, le=300)
    max_concurrent: Int = Field(100, ge=1, le=10000)
    backoff_base_ms: Int = Field(100, ge=1, le=60000)
    backoff_multiplier: Float = Field(2.0, ge=1, le=10)
    backoff_max_ms: Int = Field(30000, ge=1)
    jitter: bool = True

    @model_validator(mode="after")
    def _cap_above_base(self) -> ExecutorSettings:
        if self.backoff_max_ms < self.backoff_base_ms:
            raise Problem(
                f"must be at least backoff_base_ms ({self.backoff_base_ms}) (got {self.backoff_max_ms})",
                ("backoff_max_ms",),
            )
        return self


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """The effective breaker settings of one provider: its overrides over the global values."""

    failure_threshold: int
    success_threshold: int
    recovery_timeout_seconds: int
    probe_timeout_seconds: int
    fallback_provider: str | None


class CircuitBreakerProviderSettings(ConfigModel):
    failure_threshold: Int | None = Field(None, ge=1, le=1000)
    success_threshold: Int | None = Field(None, ge=1, le=1000)
    recovery_timeout_seconds: Int | None = Field(None, ge=1, le=86400)
    fallback_provider: Identifier | None = None


class CircuitBreakerSettings(ConfigModel):
    enabled: bool = False
    failure_threshold: Int = Field(5, ge=1, le=1000)
    success_threshold: Int = Field(2, ge=1, le=1000)
    recovery_timeout_seconds: Int = Field(60, ge=1, le=86400)
    probe_timeout_seconds: Int = Field(30, ge=1, le=86400)
    providers: dict[str, CircuitBreakerProviderSettings] = Field(default_factory=dict)

    def policy_for(self, provider: str) -> BreakerPolicy:
        override = self.providers.get(provider) or CircuitBreakerProviderSettings()
        return BreakerPolicy(
            failure_threshold=override.failure_threshold or self.failure_threshold,
            success_threshold=override.success_threshold or self.success_threshold,
            recovery_timeout_seconds=override.recovery_timeout_seconds or self.recovery_timeout_seconds,
            probe_timeout_seconds=self.probe_timeout_seconds,
            fallback_provider=override.fallback_provider,
        )


class BackgroundSettings(ConfigModel):
    enabled: bool = True
    poll_interval_seconds: Float = Field(1.0, ge=0.1, le=60)
    lease_seconds: Int = Field(60, ge=5, le=3600)
    max_concurrent_chain_steps: Int = Field(16, ge=1, le=1000)


class EmbeddingSettings(ConfigModel):
    enabled: bool = False
    provider: Literal["local", "openai"] = "local"
    model: Annotated[str, Rule("must be a non-empty string"), Field(min_length=1)] = (
        "wordllama-l2-supercat-256"
    )
    endpoint: HttpUrl = "https://api.openai.com/v1/embeddings"
    api_key: SecretStr = SecretStr("")
    timeout_seconds: Float = Field(10.0, ge=0.1, le=120)
    fail_open: bool = True
    max_input_chars: Int = Field(8192, ge=1, le=100_000)
    topic_cache_capacity: Int = Field(10000, ge=0)
    topic_cache_ttl_seconds: Int = Field(3600, ge=1)
    text_cache_capacity: Int = Field(1000, ge=0)
    text_cache_ttl_seconds: Int = Field(60, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _model_per_provider(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("provider") == "openai" and data.get("model") is None:
            return {**data, "model": _OPENAI_MODEL}
        return data


class RecurringSettings(ConfigModel):
    max_per_tenant: Int = Field(100, ge=1, le=100_000)
    min_interval_seconds: Int = Field(60, ge=60, le=86400)
    catch_up_window_seconds: Int = Field(3600, ge=0, le=2_592_000)


class LoggingSettings(ConfigModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class TracingSettings(ConfigModel):
    enabled: bool = False
    otlp_endpoint: HttpUrl | None = None
    service_name: Annotated[str, Rule("must be a non-empty string"), Field(min_length=1)] = "tidegate"

    @model_validator(mode="after")
    def _endpoint_when_enabled(self) -> TracingSettings:
        if self.enabled and self.otlp_endpoint is None:
            raise Problem("required when tracing.enabled is true", ("otlp_endpoint",))
        return self


class ApiSettings(ConfigModel):
    wire_format: Literal["tidegate", "acteon"] = "tidegate"
