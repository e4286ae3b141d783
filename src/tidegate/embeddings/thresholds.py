"""Warnings about ``semantic_match`` thresholds that cannot work with the configured provider. Pure.

rules.md §8 gives ``threshold`` the default 0.8, which suits large models (OpenAI-style models score
close paraphrases 0.8 and more). The ``local`` static model (WordLlama ``l2_supercat``) scores on another
scale: on the fixed pairs of ``tests/embeddings/pairs.py`` related texts score 0.25-0.55 and unrelated ones
below 0.1 (bench/README.md), so a rule left on the default never matches and nothing says so. The spec
default stays; loaders (rule load, ``check-rules``, ``check-config``) show these warnings instead."""

from __future__ import annotations

from collections.abc import Iterable

from tidegate.rules import Rule
from tidegate.rules.conditions import DEFAULT_THRESHOLD

__all__ = ["LOCAL_SCALE", "SUGGESTED_LOCAL_THRESHOLD", "default_threshold_warnings"]

#: How the local model scores, measured on the fixed pairs (bench/embeddings.py).
LOCAL_SCALE = "related texts about 0.25-0.55 and unrelated ones below 0.1"
SUGGESTED_LOCAL_THRESHOLD = 0.2  # between the lowest related pair (0.252) and the highest unrelated (0.075)


def default_threshold_warnings(rules: Iterable[Rule], provider: str) -> list[str]:
    """One line per rule whose ``semantic_match`` relies on the default threshold, for ``local`` only."""
    if provider != "local":
        return []
    return [_warning(rule.name, rule.default_thresholds) for rule in rules if rule.default_thresholds]


def _warning(name: str, paths: tuple[str, ...]) -> str:
    nodes = ", ".join(f"{path}.semantic_match" for path in paths)
    verb = "has" if len(paths) == 1 else "have"
    return (
        f"rule '{name}': {nodes} {verb} no threshold, so the default {DEFAULT_THRESHOLD} applies, but the "
        f"local embedding model scores {LOCAL_SCALE}: it will never match; set a threshold (about "
        f"{SUGGESTED_LOCAL_THRESHOLD} suits it; try texts with POST /v1/embeddings/similarity)"
    )
