"""``embedding_similarity`` on a real server whose embedding provider is a local OpenAI-compatible
endpoint (the outside world, played by ``tests/embeddings/fake_openai.py``), and on one without any."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.conftest import client_settings
from tests.embeddings.fake_openai import serving_fake
from tests.helpers.server import running_server
from tidegate.api.embedding_schemas import SimilarityResult
from tidegate.client import AsyncClient, NotFoundError, ServerError, ValidationError


async def test_similarity_through_a_real_provider(tmp_path: Path) -> None:
    with serving_fake() as (endpoint, fake):
        embedding = {"enabled": True, "provider": "openai", "endpoint": endpoint}
        settings = client_settings(tmp_path, embedding=embedding)
        async with running_server(settings) as url, AsyncClient(url) as tg:
            same = await tg.embedding_similarity("disk full", "disk full")
            assert isinstance(same, SimilarityResult)
            assert same.similarity == pytest.approx(1.0) and same.topic == "disk full"
            other = await tg.embedding_similarity("disk full", "billing question")
            assert -1.0 <= other.similarity < 1.0
            with pytest.raises(ValidationError):
                await tg.embedding_similarity("", "topic")
            fake.mode = "error"
            with pytest.raises(ServerError) as failed:
                await tg.embedding_similarity("fresh text", "another topic")
            assert failed.value.code == "embedding_failed" and failed.value.retryable


async def test_similarity_without_a_provider_is_feature_disabled(server: str) -> None:
    async with AsyncClient(server) as tg:
        with pytest.raises(NotFoundError) as disabled:
            await tg.embedding_similarity("text", "topic")
    assert disabled.value.code == "feature_disabled"
