"""The Tidegate error tree. Code outside ``api/`` raises only these; ``api/errors.py`` maps them to HTTP.

TidegateError                      code (HTTP status is decided in api/errors.py)
├── InvalidInput                   bad_request
│   └── InvalidJson                invalid_json
├── ValidationFailed               validation_error (carries a detail list)
├── Unauthenticated                unauthorized
│   └── InvalidCredentials         invalid_credentials (wrong username or password at login)
├── Forbidden                      forbidden
│   └── InvalidSignature           invalid_signature (an approval link's signature does not verify)
├── NotFound                       not_found
│   ├── ProviderNotFound           provider_not_found
│   ├── FeatureDisabled            feature_disabled
│   └── AuthDisabled               auth_disabled (login/logout while ``auth.enabled`` is false)
├── Conflict                       conflict
│   ├── InvalidTransition          invalid_transition (an event move not in its state machine's table)
│   └── ApprovalDecided            approval_decided (the approval was already approved or rejected)
├── Gone                           gone
│   └── ApprovalExpired            approval_expired (the approval link or the approval has expired)
├── PayloadTooLarge                payload_too_large
├── UnsupportedMediaType           unsupported_media_type
├── RateLimited                    rate_limited (carries retry_after seconds)
│   └── TooManyConnections         too_many_connections (an SSE connection limit; stream.md §0.6)
├── EmbeddingFailed                embedding_failed (the embedding provider failed; features.md §18)
├── BackendUnavailable             backend_unavailable
│   └── StreamingDisabled          streaming_disabled (``stream.enabled`` is false)
└── ConfigError                    never reaches HTTP: stops startup with every problem listed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "ApprovalDecided",
    "ApprovalExpired",
    "AuthDisabled",
    "BackendUnavailable",
    "ConfigError",
    "Conflict",
    "EmbeddingFailed",
    "FeatureDisabled",
    "Forbidden",
    "Gone",
    "InvalidBody",
    "InvalidCredentials",
    "InvalidInput",
    "InvalidJson",
    "InvalidSignature",
    "InvalidTransition",
    "NotFound",
    "PayloadTooLarge",
    "ProviderNotFound",
    "RateLimited",
    "StreamingDisabled",
    "TidegateError",
    "TooManyConnections",
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


class InvalidBody(ValidationFailed):
    """A schema violation answered with 400 instead of 422 (the recurring create and update, per the seed)."""


class Unauthenticated(TidegateError):
    code = "unauthorized"


class InvalidCredentials(Unauthenticated):
    """A login with an unknown username or a wrong password: one answer for both (api.md §13)."""

    code = "invalid_credentials"


class Forbidden(TidegateError):
    code = "forbidden"


class InvalidSignature(Forbidden):
    """An approval link whose ``sig``/``expires_at`` is missing or malformed, whose ``kid`` is unknown, or
    whose signature does not match (api.md §7 check 1); the message never repeats what was sent."""

    code = "invalid_signature"

    def __init__(self) -> None:
        super().__init__("invalid approval link signature")


class NotFound(TidegateError):
    code = "not_found"


class ProviderNotFound(NotFound):
    code = "provider_not_found"

    def __init__(self, provider: str) -> None:
        super().__init__(f"Provider not found: {provider}")
        self.provider = provider


class FeatureDisabled(NotFound):
    code = "feature_disabled"


class AuthDisabled(NotFound):
    code = "auth_disabled"


class Conflict(TidegateError):
    code = "conflict"


class InvalidTransition(Conflict):
    """``current -> target`` is not in the machine's transition table (D11); the message is api.md §6's."""

    code = "invalid_transition"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"transition from '{current}' to '{target}' is not allowed")


class ApprovalDecided(Conflict):
    """The approval was already approved or rejected; the message is README's, exactly."""

    code = "approval_decided"

    def __init__(self, status: str) -> None:
        super().__init__(f"approval already decided: {status}")


class Gone(TidegateError):
    """The entity existed but can no longer be used (410)."""

    code = "gone"


class ApprovalExpired(Gone):
    code = "approval_expired"

    def __init__(self) -> None:
        super().__init__("approval expired")


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


class TooManyConnections(RateLimited):
    """Every SSE connection slot of the caller's bucket is taken (stream.md §0.6); retry after 5 s."""

    code = "too_many_connections"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message, retry_after)


class EmbeddingFailed(TidegateError):
    """The embedding provider failed (error answer, timeout, unreachable, malformed body); the message
    names the failure class only, never the endpoint URL or the API key."""

    code = "embedding_failed"
    retryable = True


class BackendUnavailable(TidegateError):
    """A state store, audit store or event log did not answer; raised from the foreign error at the edge."""

    code = "backend_unavailable"
    retryable = True


class StreamingDisabled(BackendUnavailable):
    """SSE endpoints are switched off in config (``stream.enabled: false``): 503, not worth retrying."""

    code = "streaming_disabled"
    retryable = False


class ConfigError(TidegateError):
    """Configuration (or rules at startup) is invalid; ``problems`` lists every message, each naming
    its key."""

    code = "configuration"

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)
