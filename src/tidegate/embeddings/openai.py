"""The ``openai`` provider: any OpenAI-compatible ``/v1/embeddings`` endpoint (features.md §18).

``POST {endpoint}`` with ``{"model", "input"}`` and ``Authorization: Bearer <api_key>`` (none when the key is
empty); the vector is ``data[0].embedding``. A non-2xx answer, a timeout, a connection error or a
malformed body raises ``EmbeddingFailed``, whose message names only the failure class: never the URL
(it may carry a token) and never the key."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import httpx
import orjson

from tidegate.errors import EmbeddingFailed

__all__ = ["MAX_RESPONSE_BYTES", "OpenAIProvider"]

#: The largest answer read. One 3072-dimension vector is about 70 KB of JSON; a bigger answer is a
#: misbehaving endpoint, and parsing it (on the event loop) would stall every other request.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class OpenAIProvider:
    def __init__(
        self, *, endpoint: str, model: str, api_key: str, timeout: float, client: httpx.AsyncClient
    ) -> None:
        """``client`` is the process's shared client (owned by the caller, not closed here)."""
        self._endpoint = endpoint
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._client = client

    @property
    def name(self) -> str:
        return "openai"

    @property
    def model(self) -> str:
        return self._model

    async def embed(self, text: str) -> Sequence[float]:
        body = orjson.dumps({"model": self._model, "input": text})
        headers = {**self._headers, "Content-Type": "application/json"}
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._client.stream(
                    "POST", self._endpoint, content=body, headers=headers, timeout=self._timeout
                ) as response,
            ):
                if not 200 <= response.status_code < 300:
                    raise EmbeddingFailed(f"embedding provider answered HTTP {response.status_code}")
                raw = await _read_capped(response)
        except (TimeoutError, httpx.TimeoutException):
            raise EmbeddingFailed(f"embedding provider timed out after {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise EmbeddingFailed(f"embedding provider unreachable ({type(exc).__name__})") from None
        return _vector(raw)

    async def close(self) -> None:
        return None


async def _read_capped(response: httpx.Response) -> bytes:
    """The body, refused beyond ``MAX_RESPONSE_BYTES``: it is parsed on the event loop."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise EmbeddingFailed(f"embedding provider answered more than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _vector(raw: bytes) -> list[float]:
    """``data[0].embedding`` as floats; EmbeddingFailed for anything else."""
    try:
        body = orjson.loads(raw)
        values = body["data"][0]["embedding"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise EmbeddingFailed("embedding provider answered a malformed body") from None
    if not isinstance(values, list) or not values:
        raise EmbeddingFailed("embedding provider answered a malformed body")
    vector: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise EmbeddingFailed("embedding provider answered a malformed body")
        vector.append(float(value))
    return vector
