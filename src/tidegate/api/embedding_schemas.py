"""Wire shapes of ``POST /v1/embeddings/similarity`` (api.md §10)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EMBEDDING_MODELS", "SimilarityBody", "SimilarityResult"]

MAX_TOPIC_CHARS = 1024


class SimilarityBody(BaseModel):
    """``text`` is at most ``embedding.max_input_chars`` (8192 by default) characters, checked by the
    endpoint against the configured value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1)
    topic: str = Field(min_length=1, max_length=MAX_TOPIC_CHARS)


class SimilarityResult(BaseModel):
    similarity: float = Field(ge=-1, le=1, description="cosine similarity of the text and the topic")
    topic: str = Field(description="the topic, echoed")


EMBEDDING_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (SimilarityBody, "validation"),
    (SimilarityResult, "serialization"),
]
