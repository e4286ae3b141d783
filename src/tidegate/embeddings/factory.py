"""Build the configured embedding provider and its embedder from ``Settings`` (features.md §18)."""

from __future__ import annotations

import asyncio

import httpx

from tidegate.clock import Clock
from tidegate.config.sections import EmbeddingSettings
from tidegate.embeddings.embedder import Embedder
from tidegate.embeddings.local import LocalProvider, load_local_encoder
from tidegate.embeddings.openai import OpenAIProvider
from tidegate.embeddings.provider import EmbeddingProvider

__all__ = ["open_embedder"]


async def open_embedder(
    settings: EmbeddingSettings, http: httpx.AsyncClient, clock: Clock
) -> Embedder | None:
    """None when embeddings are disabled. ConfigError when the local model's package or files are
    missing: startup fails and names the package. The local model loads in a worker thread."""
    if not settings.enabled:
        return None
    provider: EmbeddingProvider
    if settings.provider == "local":
        encoder = await asyncio.to_thread(load_local_encoder, settings.model)
        provider = LocalProvider(settings.model, encoder)
    else:
        provider = OpenAIProvider(
            endpoint=settings.endpoint,
            model=settings.model,
            api_key=settings.api_key.get_secret_value(),
            timeout=settings.timeout_seconds,
            client=http,
        )
    return Embedder(provider, settings, clock)
