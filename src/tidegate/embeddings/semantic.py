"""``semantic_match`` at dispatch (rules.md §8): feeds embeddings to the synchronous, pure rule engine.

Rule evaluation stays synchronous. ``Semantics.cached()`` gives the engine a matcher that only reads the
caches and raises ``SemanticPending`` on a miss, naming every vector it lacks; ``Semantics.evaluate`` then
awaits those embeddings (in a worker thread or over HTTP, never on the loop) and evaluates again. So with
warm caches a dispatch evaluates once, on the loop, with no thread hop, and a rule set without
``semantic_match`` pays nothing at all. Evaluation is pure, so evaluating again is safe; each round
resolves at least one missing vector and keeps it for the next round, so the loop ends.

A provider failure makes the predicate false (``fail_open``, a WARNING at most once a minute) or fails
the dispatch with 503 ``backend_unavailable`` before anything is executed, stored, audited or streamed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Literal, TypeAlias, TypeVar

from tidegate.clock import Clock
from tidegate.embeddings.embedder import Embedder
from tidegate.embeddings.thresholds import default_threshold_warnings
from tidegate.embeddings.vectors import Vector, cosine
from tidegate.errors import BackendUnavailable, EmbeddingFailed
from tidegate.rules import Rule, SemanticMatcher

__all__ = ["SemanticPending", "Semantics"]

log = logging.getLogger(__name__)

_WARN_INTERVAL = 60.0

Kind: TypeAlias = Literal["topic", "text"]
#: Vectors resolved during one evaluation; None marks a failed embedding (fail-open: no match).
Resolved: TypeAlias = dict[tuple[Kind, str], Vector | None]
T = TypeVar("T")


class SemanticPending(Exception):
    """Evaluation needs vectors the caches do not hold; ``missing`` lists them (kind, string)."""

    def __init__(self, missing: list[tuple[Kind, str]]) -> None:
        super().__init__(f"{len(missing)} embeddings pending")
        self.missing = missing


class _Matcher:
    """The ``SemanticMatcher`` of one evaluation round: caches first, then this evaluation's own finds."""

    __slots__ = ("_embedder", "_limit", "_resolved")

    def __init__(self, embedder: Embedder, resolved: Resolved | None) -> None:
        self._embedder = embedder
        self._limit = embedder.max_input_chars
        self._resolved = resolved

    def _lookup(self, kind: Kind, key: str) -> Vector | Literal[False] | None:
        """The vector, None when it failed this evaluation, False when it must be fetched."""
        cache = self._embedder.topics if kind == "topic" else self._embedder.texts
        found = cache.get(key)
        if found is not None:
            return found
        resolved = self._resolved
        if resolved is not None and (kind, key) in resolved:
            return resolved[(kind, key)]
        return False

    def __call__(self, text: str, topic: str, threshold: float) -> bool:
        text = text[: self._limit]  # rule texts are cut, not refused (features.md §18)
        topic_vector = self._lookup("topic", topic)
        text_vector = self._lookup("text", text)
        if topic_vector is False or text_vector is False:
            missing: list[tuple[Kind, str]] = []
            if topic_vector is False:
                missing.append(("topic", topic))
            if text_vector is False:
                missing.append(("text", text))
            raise SemanticPending(missing)
        if topic_vector is None or text_vector is None:
            return False
        return cosine(text_vector, topic_vector) >= threshold


class Semantics:
    def __init__(self, embedder: Embedder, *, fail_open: bool, clock: Clock) -> None:
        self.embedder = embedder
        self._fail_open = fail_open
        self._clock = clock
        self._warned_at: float | None = None
        self._advised: set[str] = set()

    def advise(self, rules: Iterable[Rule]) -> None:
        """Log, once per rule and process, each ``semantic_match`` whose default threshold cannot match with
        this provider (``thresholds.py``); reloads of an unchanged rule stay quiet."""
        for warning in default_threshold_warnings(rules, self.embedder.provider.name):
            if warning not in self._advised:
                self._advised.add(warning)
                log.warning("%s", warning)

    def cached(self) -> SemanticMatcher:
        """A matcher reading only the caches; it raises SemanticPending on a miss."""
        return _Matcher(self.embedder, None)

    async def evaluate(self, evaluate: Callable[[SemanticMatcher], T]) -> T:
        """``evaluate(matcher)`` again and again, embedding what each round lacks, until it decides.

        Raises BackendUnavailable when the provider fails and ``fail_open`` is false."""
        resolved: Resolved = {}
        while True:
            try:
                return evaluate(_Matcher(self.embedder, resolved))
            except SemanticPending as pending:
                missing = [key for key in pending.missing if key not in resolved]
                if not missing:  # cannot happen: a resolved key is never reported missing again
                    raise RuntimeError("semantic_match evaluation made no progress") from None
                vectors = await asyncio.gather(*(self._fetch(kind, key) for kind, key in missing))
                resolved.update(zip(missing, vectors, strict=True))

    async def _fetch(self, kind: Kind, key: str) -> Vector | None:
        embedder = self.embedder
        try:
            return await (embedder.topic(key) if kind == "topic" else embedder.text(key))
        except EmbeddingFailed as exc:
            if not self._fail_open:
                raise BackendUnavailable(f"embedding provider failed: {exc.message}") from exc
            self._warn(exc)
            return None

    def _warn(self, exc: EmbeddingFailed) -> None:
        now = self._clock.monotonic()
        if self._warned_at is None or now - self._warned_at >= _WARN_INTERVAL:
            self._warned_at = now
            log.warning("semantic_match: %s; the predicate is false (embedding.fail_open)", exc.message)
