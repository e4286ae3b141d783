"""``state``, ``audit`` and ``stream`` (config.md §4.2-§4.4): where state, records and events live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from tidegate.config._base import ConfigModel, Float, Int, Problem, ResolvedPath, Rule

__all__ = ["AuditSettings", "StateSettings", "StreamSettings", "resolve_stream_backend"]

_URL_SCHEMES = {"redis": ("redis", "rediss"), "postgres": ("postgresql", "postgres")}


def _url_problem(url: str | None, backend: str, key: str = "url") -> Problem | None:
    """The URL a ``redis``/``postgres`` backend needs: present and of the backend's scheme."""
    schemes = _URL_SCHEMES.get(backend)
    if schemes is None or url is None:
        return None
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in schemes:
        wanted = " or ".join(f"{s}://" for s in schemes)
        return Problem(f"must be a {wanted} URL for backend {backend}", (key,))
    return None


class StateSettings(ConfigModel):
    backend: Literal["sqlite", "memory", "redis", "postgres"] = "sqlite"
    path: ResolvedPath = Field(Path("data/tidegate.db"), validate_default=True)
    url: str | None = None
    key_prefix: Annotated[
        str, Rule("must be 1-32 characters of A-Z a-z 0-9 _ -"), Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    ] = "tidegate"
    pool_size: Int = Field(10, ge=1, le=200)
    operation_timeout_seconds: Float = Field(2.0, ge=0.1, le=60)
    sweep_interval_seconds: Int = Field(60, ge=1, le=3600)

    @model_validator(mode="after")
    def _url_for_backend(self) -> StateSettings:
        if self.backend in _URL_SCHEMES and self.url is None:
            raise Problem(f"required when state.backend is {self.backend}", ("url",))
        problem = _url_problem(self.url, self.backend)
        if problem is not None:
            raise problem
        return self


class AuditSettings(ConfigModel):
    enabled: bool = True
    backend: Literal["sqlite", "memory", "postgres"] = "sqlite"
    path: ResolvedPath = Field(Path("data/audit.db"), validate_default=True)
    url: str | None = None  # defaults to state.url when state.backend is postgres (filled in by Settings)
    retention_days: Int = Field(30, ge=0, le=36500)
    cleanup_interval_seconds: Int = Field(3600, ge=60, le=86400)
    store_payload: bool = True
    redact_fields: list[Annotated[str, Rule("must be a non-empty string"), Field(min_length=1)]] = Field(
        default_factory=list
    )
    redact_placeholder: str = "[REDACTED]"
    sync: bool = True
    batch_size: Int = Field(256, ge=1, le=10000)
    batch_delay_ms: Int = Field(5, ge=0, le=1000)
    queue_size: Int = Field(10000, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _url_scheme(self) -> AuditSettings:
        problem = _url_problem(self.url, self.backend)
        if problem is not None:
            raise problem
        return self


class StreamSettings(ConfigModel):
    enabled: bool = True
    backend: Literal["auto", "local", "redis", "postgres"] = "auto"
    url: str | None = None  # defaults to state.url when the backends match (filled in by Settings)
    queue_size: Int = Field(1024, ge=16, le=100_000)
    keep_alive_seconds: Int = Field(15, ge=1, le=300)
    replay_max_events: Int = Field(10000, ge=0, le=10_000_000)
    replay_max_age_seconds: Int = Field(3600, ge=0, le=604_800)

    @model_validator(mode="after")
    def _url_scheme(self) -> StreamSettings:
        problem = _url_problem(self.url, self.backend)
        if problem is not None:
            raise problem
        return self


def resolve_stream_backend(
    stream: StreamSettings, state: StateSettings
) -> Literal["local", "redis", "postgres"]:
    """``auto`` follows a shared state backend (redis, postgres) and is ``local`` otherwise."""
    if stream.backend != "auto":
        return stream.backend
    if state.backend in ("redis", "postgres"):
        return state.backend
    return "local"
