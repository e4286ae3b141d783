"""``Settings``: the one typed configuration object, read once at startup (config.md).

``Settings()`` is the embedded default of config.md §3. Relative paths are resolved against the
directory in the validation context (``BaseDir``, the config file's), else the working directory.
Defaults that depend on another section are filled in here: ``audit.url`` and ``stream.url`` follow
``state.url`` when the backends match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from tidegate.config._base import ConfigModel, Problems
from tidegate.config.access import ApprovalsSettings, AuthSettings, RateLimitSettings
from tidegate.config.backends import AuditSettings, StateSettings, StreamSettings, resolve_stream_backend
from tidegate.config.chains import ChainsSettings
from tidegate.config.checks import cross_check
from tidegate.config.providers import ProviderSettings, default_providers
from tidegate.config.sections import (
    ApiSettings,
    BackgroundSettings,
    CircuitBreakerSettings,
    EmbeddingSettings,
    ExecutorSettings,
    LoggingSettings,
    RecurringSettings,
    RulesSettings,
    TracingSettings,
)
from tidegate.config.server import ServerSettings
from tidegate.config.state_machines import StateMachineSettings

__all__ = ["Settings"]

# Sections holding relative paths: validated even when absent, so their defaults see the base directory.
_PATH_SECTIONS = ("state", "audit", "rules", "auth")


def _value(section: object, key: str) -> object:
    if isinstance(section, Mapping):
        return section.get(key)
    return getattr(section, key, None)


def _with_url(section: object, url: object) -> object:
    """``section`` with ``url`` filled in when it has none; untouched otherwise."""
    if not isinstance(url, str) or _value(section, "url") is not None:
        return section
    if isinstance(section, Mapping):
        return {**section, "url": url}
    if isinstance(section, AuditSettings | StreamSettings):
        return section.model_copy(update={"url": url})
    return section


class Settings(ConfigModel):
    server: ServerSettings = Field(default_factory=ServerSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    providers: list[ProviderSettings] = Field(default_factory=default_providers)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    circuit_breaker: CircuitBreakerSettings = Field(default_factory=CircuitBreakerSettings)
    background: BackgroundSettings = Field(default_factory=BackgroundSettings)
    chains: ChainsSettings = Field(default_factory=ChainsSettings)
    state_machines: list[StateMachineSettings] = Field(default_factory=list)
    approvals: ApprovalsSettings = Field(default_factory=ApprovalsSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    recurring: RecurringSettings = Field(default_factory=RecurringSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for name in _PATH_SECTIONS:
            data.setdefault(name, {})
        state = data.get("state", {})
        state_backend, state_url = _value(state, "backend") or "sqlite", _value(state, "url")
        if state_backend == "postgres" and "audit" in data:
            data["audit"] = _with_url(data["audit"], state_url)
        stream = data.get("stream", {})
        stream_backend = _value(stream, "backend") or "auto"
        if state_backend in ("redis", "postgres") and stream_backend in ("auto", state_backend):
            data["stream"] = _with_url(stream, state_url)
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems = cross_check(self)
        if problems:
            raise Problems(problems)
        return self

    @property
    def stream_backend(self) -> Literal["local", "redis", "postgres"]:
        """``stream.backend`` with ``auto`` resolved against ``state.backend``."""
        return resolve_stream_backend(self.stream, self.state)

    def provider(self, name: str) -> ProviderSettings | None:
        return next((p for p in self.providers if p.name == name), None)
