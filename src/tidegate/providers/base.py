"""The provider contract: turn one action into a ``ProviderResponse`` or raise a classified ``ProviderError``.

A provider says whether its failure is worth retrying; the executor decides when (and whether) to retry,
and bounds every attempt with its own timeout. Messages are shown to clients, so they never carry secrets:
no query strings, userinfo, header values, passwords or Slack webhook URLs (security.md §7)."""

from __future__ import annotations

from typing import Literal, Protocol, TypeAlias

from tidegate.model.action import Action
from tidegate.model.json import JsonObject
from tidegate.model.outcome import ProviderResponse

__all__ = ["ERROR_CODES", "ErrorCode", "Provider", "ProviderError"]

ErrorCode: TypeAlias = Literal[
    "timeout", "connection", "execution_failed", "rate_limited", "configuration", "serialization"
]

ERROR_CODES: frozenset[str] = frozenset(
    {"timeout", "connection", "execution_failed", "rate_limited", "configuration", "serialization"}
)

#: Codes that are retryable by nature (api.md §3.3); ``execution_failed`` is as the provider classifies it.
_RETRYABLE_CODES = frozenset({"timeout", "connection", "rate_limited"})


class ProviderError(Exception):
    """A classified provider failure (features.md §8).

    ``retryable`` defaults from the code: true for ``timeout``, ``connection`` and ``rate_limited``, false
    otherwise. ``retry_after`` is the server's ``Retry-After`` in seconds, which raises the executor's next
    backoff delay."""

    __slots__ = ("code", "message", "retry_after", "retryable")

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.retryable = code in _RETRYABLE_CODES if retryable is None else retryable
        self.retry_after = retry_after

    def to_json(self) -> JsonObject:
        """``{"code","message","retryable"}``: the error object of ``attempt_failed`` (stream.md §3.4)."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}

    def __repr__(self) -> str:
        return f"ProviderError({self.code!r}, {self.message!r}, retryable={self.retryable})"


class Provider(Protocol):
    """One configured provider. Implementations are safe to call concurrently."""

    @property
    def name(self) -> str:
        """The configured provider name (an identifier, unique in the registry)."""
        ...

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        """Run the action once; ``attempt`` is 1-based. Raises ``ProviderError`` on any failure.

        Cancellation (the executor's per-attempt timeout) may interrupt the call at any await."""
        ...

    async def close(self) -> None:
        """Release what the provider owns (never a shared client it was given)."""
        ...
