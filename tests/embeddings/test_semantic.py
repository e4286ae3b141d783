"""``semantic_match`` at dispatch (rules.md §8): cached vectors decide on the loop, misses are fetched and
evaluation runs again, provider failures follow ``fail_open``, topics are embedded after each load.

The provider here is an in-process double with fixed vectors, so each case controls similarity exactly;
the real model's routing is tested over HTTP in tests/api/test_embeddings.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from tidegate.clock import ManualClock
from tidegate.config.sections import EmbeddingSettings
from tidegate.embeddings import Embedder, SemanticPending, Semantics
from tidegate.errors import BackendUnavailable, EmbeddingFailed
from tidegate.model.action import Action, ActionRequest
from tidegate.model.verdict import Verdict, VerdictKind
from tidegate.pipeline.gateway import HANDLED_VERDICTS
from tidegate.pipeline.rulebook import RuleBook
from tidegate.rules import RuleSet, loads_rules_text
from tidegate.store.memory import MemoryStateStore

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
RULES = """\
rules:
  - name: page-on-outage
    condition:
      all:
        - {field: action.payload.severity, eq: critical}
        - semantic_match: "outage"
          threshold: 0.75
          text_field: action.payload.description
    action: {type: reroute, target_provider: pager}
"""
#: Fixed vectors: ``servers down`` is the outage topic's neighbour, ``lunch`` is orthogonal to it.
VECTORS = {"outage": [1.0, 0.0], "servers down": [0.9, 0.1], "lunch": [0.0, 1.0]}


class FixedProvider:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail = False

    @property
    def name(self) -> str:
        return "fixed"

    @property
    def model(self) -> str:
        return "fixed-2"

    async def embed(self, text: str) -> Sequence[float]:
        self.calls.append(text)
        if self.fail:
            raise EmbeddingFailed("embedding provider answered HTTP 500")
        return VECTORS.get(text[:12], [0.5, 0.5])

    async def close(self) -> None:
        return None


def action(description: object = "servers down", severity: str = "critical") -> Action:
    payload: dict[str, object] = {"severity": severity}
    if description is not None:
        payload["description"] = description
    request = ActionRequest.model_validate(
        {"namespace": "ops", "tenant": "t1", "provider": "email", "action_type": "alert", "payload": payload}
    )
    return request.normalize(NOW)


@pytest.fixture
def provider() -> FixedProvider:
    return FixedProvider()


@pytest.fixture
def rules() -> RuleSet:
    return loads_rules_text("r.yaml", RULES, providers={"email", "pager"}, embedding_enabled=True)


def semantics(provider: FixedProvider, *, fail_open: bool = True, max_chars: int = 8192) -> Semantics:
    settings = EmbeddingSettings(enabled=True, max_input_chars=max_chars)
    return Semantics(Embedder(provider, settings, ManualClock()), fail_open=fail_open, clock=ManualClock())


async def decide(rules: RuleSet, sem: Semantics, act: Action) -> Verdict:
    return await sem.evaluate(lambda matcher: rules.evaluate(act, NOW, semantic=matcher))


async def test_a_matching_text_reroutes_and_an_unrelated_one_does_not(
    rules: RuleSet, provider: FixedProvider
) -> None:
    sem = semantics(provider)
    assert (await decide(rules, sem, action("servers down"))).kind is VerdictKind.REROUTE
    assert (await decide(rules, sem, action("lunch"))).kind is VerdictKind.ALLOW


async def test_with_warm_caches_evaluation_decides_on_the_loop_without_the_provider(
    rules: RuleSet, provider: FixedProvider
) -> None:
    sem = semantics(provider)
    with pytest.raises(SemanticPending) as pending:
        rules.evaluate(action(), NOW, semantic=sem.cached())
    assert pending.value.missing == [("topic", "outage"), ("text", "servers down")]
    await decide(rules, sem, action())
    calls = len(provider.calls)
    verdict = rules.evaluate(action(), NOW, semantic=sem.cached())  # synchronous: no await, no thread
    assert verdict.kind is VerdictKind.REROUTE
    assert len(provider.calls) == calls


async def test_topics_are_embedded_after_a_load(rules: RuleSet, provider: FixedProvider) -> None:
    sem = semantics(provider)
    sem.embedder.warm(rules.semantic_topics)
    await sem.embedder.wait_warm()
    assert provider.calls == ["outage"]
    assert sem.embedder.topics.get("outage") is not None


async def test_an_absent_or_empty_text_is_false_without_calling_the_provider(
    rules: RuleSet, provider: FixedProvider
) -> None:
    sem = semantics(provider)
    for description in (None, ""):
        assert (await decide(rules, sem, action(description))).kind is VerdictKind.ALLOW
    assert provider.calls == []


async def test_an_earlier_false_condition_skips_the_provider(rules: RuleSet, provider: FixedProvider) -> None:
    sem = semantics(provider)
    assert (await decide(rules, sem, action(severity="low"))).kind is VerdictKind.ALLOW
    assert provider.calls == []


async def test_rule_texts_are_cut_to_max_input_chars(rules: RuleSet, provider: FixedProvider) -> None:
    sem = semantics(provider, max_chars=12)
    verdict = await decide(rules, sem, action("servers down and much more text"))
    assert verdict.kind is VerdictKind.REROUTE
    assert "servers down" in provider.calls


async def test_fail_open_makes_the_predicate_false_and_warns_once_a_minute(
    rules: RuleSet, provider: FixedProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider.fail = True
    sem = semantics(provider)
    caplog.set_level(logging.WARNING, logger="tidegate.embeddings")
    for _ in range(3):
        assert (await decide(rules, sem, action())).kind is VerdictKind.ALLOW
    warnings = [r for r in caplog.records if "semantic_match" in r.getMessage()]
    assert len(warnings) == 1
    provider.fail = False  # failures were not cached: the provider is asked again
    assert (await decide(rules, sem, action())).kind is VerdictKind.REROUTE


async def test_fail_closed_fails_the_dispatch(rules: RuleSet, provider: FixedProvider) -> None:
    provider.fail = True
    with pytest.raises(BackendUnavailable, match="embedding provider failed"):
        await decide(rules, semantics(provider, fail_open=False), action())


async def test_the_rule_book_embeds_topics_after_each_load_and_decides_with_them(
    rules: RuleSet, provider: FixedProvider
) -> None:
    sem = semantics(provider)
    book = RuleBook(
        load=lambda missing_ok: rules,
        store=MemoryStateStore(ManualClock()),
        supported=HANDLED_VERDICTS,
        semantics=sem,
    )
    await book.start()
    await sem.embedder.wait_warm()
    assert provider.calls == ["outage"]
    with pytest.raises(SemanticPending):  # the text is not cached yet: the caller must await decide
        book.evaluate(action(), NOW)
    assert (await book.decide(action(), NOW)).kind is VerdictKind.REROUTE
    assert book.evaluate(action(), NOW).kind is VerdictKind.REROUTE  # now cached: decided on the loop
    await book.reload(announce=False)
    await sem.embedder.wait_warm()
    assert provider.calls == ["outage", "servers down"]  # the topic is still cached: not embedded again


async def test_a_rule_book_without_semantic_rules_never_consults_embeddings(provider: FixedProvider) -> None:
    plain = loads_rules_text("p.yaml", "rules: []", providers={"email"})
    book = RuleBook(
        load=lambda missing_ok: plain,
        store=MemoryStateStore(ManualClock()),
        supported=HANDLED_VERDICTS,
        semantics=semantics(provider),
    )
    await book.start()
    assert book.evaluate(action(), NOW).kind is VerdictKind.ALLOW
    assert provider.calls == []
