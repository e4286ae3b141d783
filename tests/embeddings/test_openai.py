"""The ``openai`` provider against a local OpenAI-compatible endpoint (features.md §18): success, error
answers, timeouts, malformed bodies and unreachable hosts, with the key and URL kept out of every error."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tidegate.embeddings.openai import MAX_RESPONSE_BYTES, OpenAIProvider
from tidegate.errors import EmbeddingFailed

from .fake_openai import FakeEndpoint, fake_vector, serving_fake

API_KEY = "sk-test-very-secret-key"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[str, FakeEndpoint]]:
    with serving_fake() as served:
        yield served


@pytest.fixture
def fake(endpoint: tuple[str, FakeEndpoint]) -> FakeEndpoint:
    fake = endpoint[1]
    fake.mode = "ok"
    fake.requests.clear()
    return fake


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def provider(
    url: str, client: httpx.AsyncClient, *, key: str = API_KEY, timeout: float = 5.0
) -> OpenAIProvider:
    return OpenAIProvider(
        endpoint=url, model="text-embedding-3-small", api_key=key, timeout=timeout, client=client
    )


def assert_secret_free(exc: EmbeddingFailed, caplog: pytest.LogCaptureFixture) -> None:
    for text in (str(exc), exc.message, caplog.text):
        assert API_KEY not in text
        assert "url-secret" not in text
        assert "127.0.0.1" not in text


async def test_posts_model_and_input_with_the_bearer_key_and_reads_data_0_embedding(
    endpoint: tuple[str, FakeEndpoint], fake: FakeEndpoint, client: httpx.AsyncClient
) -> None:
    vector = await provider(endpoint[0], client).embed("servers down")
    assert list(vector) == pytest.approx(fake_vector("servers down"))
    headers, body = fake.requests[0]
    assert body == {"model": "text-embedding-3-small", "input": "servers down"}
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["content-type"] == "application/json"


async def test_an_empty_key_sends_no_authorization_header(
    endpoint: tuple[str, FakeEndpoint], fake: FakeEndpoint, client: httpx.AsyncClient
) -> None:
    await provider(endpoint[0], client, key="").embed("x")
    headers, _ = fake.requests[0]
    assert "authorization" not in headers


async def test_an_error_answer_fails_without_leaking_the_key(
    endpoint: tuple[str, FakeEndpoint],
    fake: FakeEndpoint,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.mode = "error"
    caplog.set_level(logging.DEBUG, logger="tidegate")  # httpx's own request log is capped by `serve`
    with pytest.raises(EmbeddingFailed, match="HTTP 500") as caught:
        await provider(endpoint[0], client).embed("x")
    assert caught.value.retryable
    assert_secret_free(caught.value, caplog)


async def test_a_timeout_fails(
    endpoint: tuple[str, FakeEndpoint],
    fake: FakeEndpoint,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.mode = "slow"
    with pytest.raises(EmbeddingFailed, match=r"timed out after 0\.2 s") as caught:
        await provider(endpoint[0], client, timeout=0.2).embed("x")
    assert_secret_free(caught.value, caplog)


@pytest.mark.parametrize("mode", ["malformed"])
async def test_a_malformed_body_fails(
    endpoint: tuple[str, FakeEndpoint], fake: FakeEndpoint, client: httpx.AsyncClient, mode: str
) -> None:
    fake.mode = mode
    with pytest.raises(EmbeddingFailed, match="malformed body"):
        await provider(endpoint[0], client).embed("x")


async def test_an_unreachable_endpoint_fails(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/embeddings?token=url-secret"
    with pytest.raises(EmbeddingFailed, match="unreachable") as caught:
        await provider(url, client).embed("x")
    assert_secret_free(caught.value, caplog)


async def test_an_oversized_answer_fails_without_being_parsed(
    endpoint: tuple[str, FakeEndpoint], fake: FakeEndpoint, client: httpx.AsyncClient
) -> None:
    """The body is parsed on the event loop: a misbehaving endpoint must not stall it with megabytes."""
    fake.mode = "huge"
    with pytest.raises(EmbeddingFailed, match=f"more than {MAX_RESPONSE_BYTES} bytes"):
        await provider(endpoint[0], client).embed("x")
    fake.mode = "ok"
    assert len(await provider(endpoint[0], client).embed("x")) == len(fake_vector("x"))
