"""The embedder's background topic embedding after a rules load (features.md §18): bounded, so a large
rules directory does not open one provider request per topic at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tidegate.clock import ManualClock
from tidegate.config.sections import EmbeddingSettings
from tidegate.embeddings import Embedder
from tidegate.embeddings.embedder import WARM_CONCURRENCY


class Gauge:
    """A provider that records how many calls run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.calls = 0

    @property
    def name(self) -> str:
        return "gauge"

    @property
    def model(self) -> str:
        return "g"

    async def embed(self, text: str) -> Sequence[float]:
        self.running += 1
        self.calls += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.running -= 1
        return [1.0, float(len(text))]

    async def close(self) -> None:
        return None


async def test_warming_many_topics_keeps_few_provider_calls_in_flight() -> None:
    provider = Gauge()
    embedder = Embedder(provider, EmbeddingSettings(enabled=True), ManualClock())
    topics = [f"topic {i}" for i in range(40)]
    embedder.warm(topics)
    await embedder.wait_warm()
    assert provider.calls == 40
    assert 1 <= provider.peak <= WARM_CONCURRENCY < 40
    assert all(embedder.topics.get(topic) is not None for topic in topics)
    await embedder.close()
