"""The ``local`` provider: WordLlama from the files its wheel ships, with no network (features.md §18), and
its quality on the fixed sentence pairs of ``pairs.py``."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import Sequence

import pytest

from tidegate.embeddings import cosine, unit
from tidegate.embeddings.local import PACKAGE, LocalProvider, load_local_encoder
from tidegate.errors import ConfigError, EmbeddingFailed

from .pairs import RELATED, UNRELATED

MODEL = "wordllama-l2-supercat-256"
#: Every related pair must beat every unrelated pair by at least this much (measured gap: 0.18).
MARGIN = 0.1


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider(MODEL, load_local_encoder(MODEL))


def scores(provider: LocalProvider, pairs: Sequence[tuple[str, str]]) -> list[float]:
    async def score(a: str, b: str) -> float:
        return cosine(unit(await provider.embed(a)), unit(await provider.embed(b)))

    async def run() -> list[float]:
        return [await score(a, b) for a, b in pairs]

    return asyncio.run(run())


def test_related_pairs_score_clearly_above_unrelated_ones(provider: LocalProvider) -> None:
    related = scores(provider, RELATED)
    unrelated = scores(provider, UNRELATED)
    assert min(related) > max(unrelated) + MARGIN, (related, unrelated)
    assert sum(related) / len(related) > sum(unrelated) / len(unrelated) + 0.25


async def test_vectors_have_256_dimensions_and_identical_texts_score_1(provider: LocalProvider) -> None:
    first = unit(await provider.embed("Infrastructure outage, servers down"))
    again = unit(await provider.embed("Infrastructure outage, servers down"))
    assert len(first) == 256
    assert cosine(first, again) == pytest.approx(1.0)


def test_the_model_loads_with_the_network_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    encode = load_local_encoder(MODEL)
    assert len(encode(["disk almost full"])[0]) == 256


def test_an_unknown_local_model_names_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown local model 'tiny'.*wordllama-l2-supercat-256"):
        load_local_encoder("tiny")


def test_a_missing_package_names_it_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == PACKAGE else real(name))
    with pytest.raises(ConfigError, match=r"needs the Python package 'wordllama'.*tidegate\[embeddings\]"):
        load_local_encoder(MODEL)


async def test_a_model_error_is_a_provider_failure() -> None:
    def broken(texts: list[str]) -> list[list[float]]:
        raise ValueError("corrupt weights")

    with pytest.raises(EmbeddingFailed, match="local embedding model failed"):
        await LocalProvider(MODEL, broken).embed("x")
