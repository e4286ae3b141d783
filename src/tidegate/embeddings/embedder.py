"""The embedding service: one provider behind the topic and text caches (features.md §18).

Rule conditions and ``POST /v1/embeddings/similarity`` share it, so a topic embedded for a rule is not
embedded again for the endpoint. Topics are embedded in the background after every successful rules load
(``warm``); a failure there is logged, and the topic is embedded again when a dispatch first needs it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from tidegate.clock import Clock
from tidegate.config.sections import EmbeddingSettings
from tidegate.embeddings.cache import VectorCache
from tidegate.embeddings.provider import EmbeddingProvider
from tidegate.embeddings.vectors import Vector, cosine, unit
from tidegate.errors import EmbeddingFailed

__all__ = ["WARM_CONCURRENCY", "Embedder"]

log = logging.getLogger(__name__)

#: Topics embedded at once after a load: a rules directory with hundreds of topics must not open hundreds
#: of provider requests (a remote provider would refuse or rate-limit them) or queue as many threads.
WARM_CONCURRENCY = 4


class Embedder:
    def __init__(self, provider: EmbeddingProvider, settings: EmbeddingSettings, clock: Clock) -> None:
        self.provider = provider
        self.max_input_chars = settings.max_input_chars
        self.topics = VectorCache(settings.topic_cache_capacity, settings.topic_cache_ttl_seconds, clock)
        self.texts = VectorCache(settings.text_cache_capacity, settings.text_cache_ttl_seconds, clock)
        self._warming: set[asyncio.Task[None]] = set()

    async def _embed(self, text: str) -> Vector:
        return unit(await self.provider.embed(text))

    async def topic(self, topic: str) -> Vector:
        """The topic's vector (cached); EmbeddingFailed when the provider fails."""
        return await self.topics.get_or_compute(topic, lambda: self._embed(topic))

    async def text(self, text: str) -> Vector:
        """The text's vector (cached); EmbeddingFailed when the provider fails."""
        return await self.texts.get_or_compute(text, lambda: self._embed(text))

    async def similarity(self, text: str, topic: str) -> float:
        """Cosine similarity of ``text`` and ``topic``, both embedded at once; EmbeddingFailed on failure."""
        text_vector, topic_vector = await asyncio.gather(self.text(text), self.topic(topic))
        return cosine(text_vector, topic_vector)

    def warm(self, topics: Iterable[str]) -> None:
        """Embed ``topics`` in the background (after a rules load); returns at once.

        The task is held here until it ends and cancelled by ``close``."""
        pending = [topic for topic in dict.fromkeys(topics) if self.topics.get(topic) is None]
        if not pending:
            return
        task = asyncio.ensure_future(self._warm(pending))
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)

    async def _warm(self, topics: list[str]) -> None:
        gate = asyncio.Semaphore(WARM_CONCURRENCY)

        async def embed(topic: str) -> Vector:
            async with gate:
                return await self.topic(topic)

        results = await asyncio.gather(*(embed(topic) for topic in topics), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for error in failed:
            if not isinstance(error, EmbeddingFailed):
                raise error
        if failed:
            log.warning(
                "embedding %d of %d semantic_match topics failed (%s); they are embedded when first needed",
                len(failed),
                len(topics),
                failed[0],
            )

    async def wait_warm(self) -> None:
        """Wait for the background topic embedding started so far (tests, bench)."""
        while self._warming:
            await asyncio.gather(*self._warming, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._warming):
            task.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        self.topics.cancel()
        self.texts.cancel()
        await self.provider.close()
