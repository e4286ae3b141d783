"""The warning about ``semantic_match`` rules left on the default threshold with the ``local`` model, whose
scores never reach 0.8 (README "Routing by meaning"): at rule load, once per rule, and in the CLI."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from tidegate.clock import ManualClock
from tidegate.config.sections import EmbeddingSettings
from tidegate.embeddings import Embedder, Semantics
from tidegate.embeddings.thresholds import default_threshold_warnings
from tidegate.pipeline.gateway import HANDLED_VERDICTS
from tidegate.pipeline.rulebook import RuleBook
from tidegate.rules import RuleSet, loads_rules_text
from tidegate.store.memory import MemoryStateStore

RULES = """\
rules:
  - name: defaulted
    condition:
      all:
        - {field: action.payload.severity, eq: critical}
        - not: {semantic_match: "cooking recipes"}
        - semantic_match: "Infrastructure outage"
          text_field: action.payload.description
    action: {type: suppress}
  - name: explicit
    condition: {semantic_match: "Payment failed", threshold: 0.3}
    action: {type: suppress}
  - name: plain
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
"""


def load(text: str = RULES) -> RuleSet:
    return loads_rules_text("r.yaml", text, providers={"email"}, embedding_enabled=True)


class NamedProvider:
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        return "m"

    async def embed(self, text: str) -> Sequence[float]:
        return [1.0, 0.0]

    async def close(self) -> None:
        return None


def test_only_nodes_without_a_threshold_are_recorded() -> None:
    rules = {rule.name: rule for rule in load().rules}
    assert rules["defaulted"].default_thresholds == ("condition.all[1].not", "condition.all[2]")
    assert rules["explicit"].default_thresholds == ()
    assert rules["plain"].default_thresholds == ()


def test_the_local_provider_gets_one_warning_per_defaulted_rule() -> None:
    warnings = default_threshold_warnings(load().rules, "local")
    assert warnings == [
        "rule 'defaulted': condition.all[1].not.semantic_match, condition.all[2].semantic_match have no "
        "threshold, so the default 0.8 applies, but the local embedding model scores related texts about "
        "0.25-0.55 and unrelated ones below 0.1: it will never match; set a threshold (about 0.2 suits it; "
        "try texts with POST /v1/embeddings/similarity)"
    ]


def test_other_providers_get_no_warning() -> None:
    assert default_threshold_warnings(load().rules, "openai") == []


async def test_a_rule_load_logs_the_warning_once_per_rule(caplog: pytest.LogCaptureFixture) -> None:
    rules = load()
    settings = EmbeddingSettings(enabled=True)
    embedder = Embedder(NamedProvider("local"), settings, ManualClock())
    book = RuleBook(
        load=lambda missing_ok: rules,
        store=MemoryStateStore(ManualClock()),
        supported=HANDLED_VERDICTS,
        semantics=Semantics(embedder, fail_open=True, clock=ManualClock()),
    )
    caplog.set_level(logging.WARNING, logger="tidegate.embeddings")
    await book.start()
    await book.reload(announce=False)  # the same rules again: no second line
    await embedder.wait_warm()
    lines = [r for r in caplog.records if "no threshold" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    assert lines[0].getMessage().startswith("rule 'defaulted': ")


async def test_a_rule_load_with_another_provider_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    rules = load()
    embedder = Embedder(NamedProvider("openai"), EmbeddingSettings(enabled=True), ManualClock())
    book = RuleBook(
        load=lambda missing_ok: rules,
        store=MemoryStateStore(ManualClock()),
        supported=HANDLED_VERDICTS,
        semantics=Semantics(embedder, fail_open=True, clock=ManualClock()),
    )
    caplog.set_level(logging.WARNING, logger="tidegate.embeddings")
    await book.start()
    await embedder.wait_warm()
    assert not [r for r in caplog.records if "no threshold" in r.getMessage()]
