"""The embedding provider contract (features.md §18): one text in, one vector out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["EmbeddingProvider"]


class EmbeddingProvider(Protocol):
    """Turns a text into a vector without blocking the event loop.

    ``embed`` raises ``EmbeddingFailed`` for every failure (whose message carries no URL or secret) and
    never anything else except ``CancelledError``. Safe to call concurrently."""

    @property
    def name(self) -> str:
        """``local`` or ``openai``: part of the cache key, with ``model``."""
        ...

    @property
    def model(self) -> str: ...

    async def embed(self, text: str) -> Sequence[float]: ...

    async def close(self) -> None: ...
