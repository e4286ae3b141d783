"""Rule toggles and reloads across instances (rules.md §11, features.md §20): two RuleBooks on one state
store stand for two instances, each reading its own rule text; ``sync`` is the rules-sync loop's tick."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.store.store_backends import BACKENDS, build_store
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.model.action import Action
from tidegate.model.verdict import VerdictKind
from tidegate.pipeline.gateway import HANDLED_VERDICTS
from tidegate.pipeline.rulebook import RuleBook
from tidegate.rules import RuleSet, loads_rules_text
from tidegate.store.base import StateStore
from tidegate.store.memory import MemoryStateStore

NOW = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)

BLOCK_SPAM = """
rules:
  - name: block-spam
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
"""

BLOCK_SPAM_AND_PROMO = """
rules:
  - name: block-spam
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
  - name: block-promo
    condition: {field: action.action_type, eq: promo}
    action: {type: deny}
"""


@dataclass
class Instance:
    """One instance's rule book and the rule text its directory holds right now."""

    rulebook: RuleBook
    text: str

    def load(self, missing_ok: bool) -> RuleSet:
        return loads_rules_text("10-rules.yaml", self.text, providers={"log"})

    def verdict(self, action_type: str) -> VerdictKind:
        return self.rulebook.evaluate(action(action_type), NOW).kind


def action(action_type: str) -> Action:
    return Action(
        id="a-1",
        namespace="notifications",
        tenant="acme",
        provider="log",
        action_type=action_type,
        payload={},
        created_at=NOW,
    )


async def instance(store: StateStore, text: str = BLOCK_SPAM) -> Instance:
    holder = Instance(rulebook=None, text=text)  # type: ignore[arg-type]
    holder.rulebook = RuleBook(load=holder.load, store=store, supported=HANDLED_VERDICTS)
    await holder.rulebook.start()
    return holder


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    opened = await build_store(request.param, ManualClock(NOW), tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_toggle_on_one_instance_applies_on_the_other_at_its_next_sync(store: StateStore) -> None:
    a, b = await instance(store), await instance(store)
    assert await a.rulebook.set_enabled("block-spam", False)
    assert a.verdict("spam") is VerdictKind.ALLOW  # the answering instance: at once
    assert b.verdict("spam") is VerdictKind.SUPPRESS  # the other keeps its copy until it syncs
    await b.rulebook.sync()
    assert b.verdict("spam") is VerdictKind.ALLOW
    assert [rule["enabled"] for rule in b.rulebook.listing()] == [False]

    assert await b.rulebook.set_enabled("block-spam", True)
    await a.rulebook.sync()
    assert a.verdict("spam") is VerdictKind.SUPPRESS


async def test_toggles_survive_a_restart(store: StateStore) -> None:
    first = await instance(store)
    assert await first.rulebook.set_enabled("block-spam", False)
    restarted = await instance(store)
    assert restarted.verdict("spam") is VerdictKind.ALLOW


async def test_a_reload_on_one_instance_reloads_the_others_from_their_own_files(store: StateStore) -> None:
    a, b = await instance(store), await instance(store)
    b.text = BLOCK_SPAM_AND_PROMO  # deployed on B, not yet loaded
    await b.rulebook.sync()
    assert b.verdict("promo") is VerdictKind.ALLOW  # nobody reloaded: B keeps the set it has

    a.text = BLOCK_SPAM_AND_PROMO
    assert (await a.rulebook.reload())["applied"] is True
    assert a.verdict("promo") is VerdictKind.DENY
    await b.rulebook.sync()
    assert b.verdict("promo") is VerdictKind.DENY

    b.text = BLOCK_SPAM  # a later sync with no new reload leaves the set alone
    await b.rulebook.sync()
    assert b.verdict("promo") is VerdictKind.DENY


async def test_a_sync_reload_that_fails_keeps_the_previous_set(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await instance(store), await instance(store)
    b.text = "rules: [{name: broken, action: {type: suppress}}]"  # one error: no condition
    assert (await a.rulebook.reload())["applied"] is True
    await b.rulebook.sync()
    assert b.verdict("spam") is VerdictKind.SUPPRESS
    assert caplog.text.count("rules sync reload") == 1
    await b.rulebook.sync()
    assert caplog.text.count("rules sync reload") == 1  # reported once, not on every tick


async def test_sync_rides_out_a_store_outage(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStateStore(ManualClock(NOW))
    a, b = await instance(store), await instance(store)
    assert await a.rulebook.set_enabled("block-spam", False)
    await store.close()
    await b.rulebook.sync()  # logged, not raised: the loop keeps its interval
    assert "rules sync" in caplog.text
    assert b.verdict("spam") is VerdictKind.SUPPRESS  # the copy in hand stays in force
    await store.open()
    await b.rulebook.sync()
    assert b.verdict("spam") is VerdictKind.ALLOW


async def test_a_reload_with_the_store_down_is_refused_before_the_swap() -> None:
    store = MemoryStateStore(ManualClock(NOW))
    a = await instance(store)
    a.text = BLOCK_SPAM_AND_PROMO
    await store.close()
    with pytest.raises(BackendUnavailable):
        await a.rulebook.reload()
    assert a.verdict("promo") is VerdictKind.ALLOW
    with pytest.raises(BackendUnavailable):
        await a.rulebook.set_enabled("block-spam", False)
    assert a.verdict("spam") is VerdictKind.SUPPRESS


async def test_a_file_watch_reload_stays_on_its_instance_and_needs_no_store() -> None:
    store = MemoryStateStore(ManualClock(NOW))
    a, b = await instance(store), await instance(store)
    a.text = b.text = BLOCK_SPAM_AND_PROMO
    await store.close()
    assert (await a.rulebook.reload(announce=False))["applied"] is True
    assert a.verdict("promo") is VerdictKind.DENY
    await store.open()
    await b.rulebook.sync()
    assert b.verdict("promo") is VerdictKind.ALLOW  # B's own watcher reloads B
