"""``auth``, ``approvals`` and ``rate_limit`` (config.md §4.11, §4.12, §4.14): who may call, and how often."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, model_validator

from tidegate.config._base import ConfigModel, Int, Problem, Problems, ResolvedPath, Rule

__all__ = [
    "ApprovalKeySettings",
    "ApprovalsSettings",
    "AuthSettings",
    "RateLimitOverride",
    "RateLimitScope",
    "RateLimitSettings",
    "TenantRateLimitScope",
]

_MIN_JWT_SECRET_BYTES = 32
_MIN_APPROVAL_KEY_HEX = 64


def _hex_key(secret: SecretStr) -> SecretStr:
    text = secret.get_secret_value()
    if len(text) < _MIN_APPROVAL_KEY_HEX or len(text) % 2 or any(c not in string.hexdigits for c in text):
        raise ValueError(f"must be hex of at least {_MIN_APPROVAL_KEY_HEX} characters (32 bytes)")
    return secret


class ApprovalKeySettings(ConfigModel):
    kid: Annotated[
        str, Rule("must be 1-64 characters of A-Z a-z 0-9 . _ -"), Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    ]
    secret: Annotated[SecretStr, AfterValidator(_hex_key)]

    @property
    def key_bytes(self) -> bytes:
        """The HMAC key: the secret's hex decoded (security.md §6)."""
        return bytes.fromhex(self.secret.get_secret_value())


class ApprovalsSettings(ConfigModel):
    keys: list[ApprovalKeySettings] = Field(default_factory=list)
    retention_seconds: Int = Field(604_800, ge=0, le=31_536_000)
    notification_retry_interval_seconds: Int = Field(60, ge=5, le=86400)

    @model_validator(mode="after")
    def _unique_kids(self) -> ApprovalsSettings:
        seen: set[str] = set()
        problems = []
        for index, key in enumerate(self.keys):
            if key.kid in seen:
                problems.append(Problem(f"duplicate kid '{key.kid}'", ("keys", index, "kid")))
            seen.add(key.kid)
        if problems:
            raise Problems(problems)
        return self


class AuthSettings(ConfigModel):
    enabled: bool = False
    file: ResolvedPath = Field(Path("auth.yaml"), validate_default=True)
    watch: bool = True
    jwt_secret: SecretStr | None = None
    jwt_expiry_seconds: Int = Field(3600, ge=60, le=604_800)
    login_max_failures: Int = Field(10, ge=1, le=1000)
    login_window_seconds: Int = Field(300, ge=10, le=86400)

    @model_validator(mode="after")
    def _jwt_secret(self) -> AuthSettings:
        if self.jwt_secret is None:
            if self.enabled:
                raise Problem("required when auth.enabled is true", ("jwt_secret",))
            return self
        if len(self.jwt_secret.get_secret_value().encode()) < _MIN_JWT_SECRET_BYTES:
            raise Problem(f"must be at least {_MIN_JWT_SECRET_BYTES} bytes", ("jwt_secret",))
        return self


class RateLimitOverride(ConfigModel):
    """One caller's or tenant's limit; a key left out keeps the scope's value."""

    requests_per_window: Int | None = Field(None, ge=1)
    window_seconds: Int | None = Field(None, ge=1, le=86400)


class RateLimitScope(ConfigModel):
    """Limits per caller id (anonymous callers share the id ``anonymous``)."""

    requests_per_window: Int = Field(1000, ge=1)
    window_seconds: Int = Field(60, ge=1, le=86400)
    overrides: dict[str, RateLimitOverride] = Field(default_factory=dict)

    def limit_for(self, key: str) -> tuple[int, int]:
        """``(requests_per_window, window_seconds)`` for one caller id or tenant."""
        override = self.overrides.get(key)
        if override is None:
            return self.requests_per_window, self.window_seconds
        return (
            override.requests_per_window or self.requests_per_window,
            override.window_seconds or self.window_seconds,
        )


class TenantRateLimitScope(RateLimitScope):
    """Limits per exact tenant, on dispatches only; off unless ``enabled``."""

    enabled: bool = False
    requests_per_window: Int = Field(10000, ge=1)


class RateLimitSettings(ConfigModel):
    enabled: bool = False
    callers: RateLimitScope = Field(default_factory=RateLimitScope)
    tenants: TenantRateLimitScope = Field(default_factory=TenantRateLimitScope)
