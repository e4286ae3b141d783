"""The Tidegate error tree. Code outside ``api/`` raises only these; ``api/errors.py`` maps them to HTTP.

TidegateError                      code (HTTP status is decided in api/errors.py)
├── InvalidInput                   bad_request
│   └── InvalidJson                invalid_json
├── ValidationFailed               validation_error (carries a detail list)
├── Unauthenticated                unauthorized
├── Forbidden                      forbidden
├── NotFound                       not_found
│   ├── ProviderNotFound           provider_not_found
│   └── FeatureDisabled            feature_disabled
├── Conflict                       conflict
├── PayloadTooLarge                payload_too_large
├── UnsupportedMediaType           unsupported_media_type
├── RateLimited                    rate_limited (carries retry_after seconds)
├── BackendUnavailable             backend_unavailable
└── ConfigError                    never reaches HTTP: stops startup with every problem listed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "BackendUnavailable",
    "ConfigError",
    "Conflict",
    "FeatureDisabled",
    "Forbidden",
    "InvalidInput",
    "InvalidJson",
    "NotFound",
    "PayloadTooLarge",
    "ProviderNotFound",
    "RateLimited",
    "TidegateError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationFailed",
]


class TidegateError(Exception):
    """Base of every domain error; ``message`` is safe to show a client (never a secret)."""

    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TidegateError):
    code = "bad_request"


class InvalidJson(InvalidInput):
    code = "invalid_json"


class ValidationFailed(TidegateError):
    """Schema violation; ``detail`` is the list of ``{"loc","msg","type"}`` items of README's 422 body."""

    code = "validation_error"

    def __init__(self, message: str, detail: Sequence[dict[str, object]] = ()) -> None:
        super().__init__(message)
        self.detail = list(detail)


class Unauthenticated(TidegateError):
    code = "unauthorized"


class Forbidden(TidegateError):
    code = "forbidden"


class NotFound(TidegateError):
    code = "not_found"


class ProviderNotFound(NotFound):
    code = "provider_not_found"

    def __init__(self, provider: str) -> None:
        super().__init__(f"Provider not found: {provider}")
        self.provider = provider


class FeatureDisabled(NotFound):
    code = "feature_disabled"


class Conflict(TidegateError):
    code = "conflict"


class PayloadTooLarge(TidegateError):
    code = "payload_too_large"


class UnsupportedMediaType(TidegateError):
    code = "unsupported_media_type"


class RateLimited(TidegateError):
    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class BackendUnavailable(TidegateError):
    """A state store, audit store or event log did not answer; raised from the foreign error at the edge."""

    code = "backend_unavailable"
    retryable = True


class ConfigError(TidegateError):
    """Configuration (or rules at startup) is invalid; ``problems`` lists every message, each naming
    its key."""

    code = "configuration"

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)
