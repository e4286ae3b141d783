"""Embeddings (features.md §18): providers, their caches, the similarity endpoint's computation and the
bridge that feeds ``semantic_match`` rule conditions."""

from tidegate.embeddings.cache import VectorCache
from tidegate.embeddings.embedder import Embedder
from tidegate.embeddings.factory import open_embedder
from tidegate.embeddings.provider import EmbeddingProvider
from tidegate.embeddings.semantic import SemanticPending, Semantics
from tidegate.embeddings.vectors import Vector, cosine, unit

__all__ = [
    "Embedder",
    "EmbeddingProvider",
    "SemanticPending",
    "Semantics",
    "Vector",
    "VectorCache",
    "cosine",
    "open_embedder",
    "unit",
]
