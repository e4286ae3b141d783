"""Gateway decisions end to end in-process: real rules, memory store and audit, a manual clock, and
scripted providers standing in for the outside world."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tidegate.audit.base import AuditQuery
from tidegate.audit.memory import MemoryAuditStore
from tidegate.breakers import Breakers
from tidegate.clock import ManualClock
from tidegate.config import CircuitBreakerSettings, ExecutorSettings
from tidegate.errors import BackendUnavailable, ProviderNotFound, RateLimited
from tidegate.executor.runner import Executor
from tidegate.metrics import Metrics
from tidegate.model.action import Action
from tidegate.model.caller import ANONYMOUS
from tidegate.model.event import EventType
from tidegate.model.outcome import ProviderResponse, Suppressed
from tidegate.model.verdict import VerdictKind
from tidegate.pipeline.gateway import HANDLED_VERDICTS, FeatureHandler, Gateway, Handled, VerdictRun
from tidegate.pipeline.recorder import Recorder
from tidegate.pipeline.rulebook import RuleBook
from tidegate.providers.base import ProviderError
from tidegate.providers.registry import ProviderRegistry, Registration
from tidegate.rules import RuleLoadError, loads_rules_text
from tidegate.store.memory import MemoryStateStore
from tidegate.stream.emit import new_event
from tidegate.stream.log import LocalEventLog

START = datetime(2026, 2, 7, 14, 30, 30, tzinfo=UTC)  # Unix 1770474630: a 60 s window began at :00


@dataclass
class ScriptedProvider:
    """Answers from a script: each item is a response or an error; the last item repeats."""

    name: str
    script: list[ProviderResponse | ProviderError] = field(default_factory=list)
    calls: list[Action] = field(default_factory=list)

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        self.calls.append(action)
        step = self.script[min(len(self.calls) - 1, len(self.script) - 1)] if self.script else None
        if isinstance(step, ProviderError):
            raise step
        return step or ProviderResponse("success", {"ok": self.name}, {})

    async def close(self) -> None:
        return None


@dataclass
class Harness:
    gateway: Gateway
    clock: ManualClock
    store: MemoryStateStore
    audit: MemoryAuditStore
    events: LocalEventLog
    metrics: Metrics
    providers: dict[str, ScriptedProvider]
    rulebook: RuleBook


async def harness(
    rules_yaml: str = "rules: []",
    providers: Sequence[str] = ("email", "sms", "log"),
    features: Mapping[VerdictKind, FeatureHandler] | None = None,
    breakers: CircuitBreakerSettings | None = None,
) -> Harness:
    clock = ManualClock(START)
    store = MemoryStateStore(clock)
    audit = MemoryAuditStore()
    events = LocalEventLog(1000, 3600, clock.now)
    metrics = Metrics()
    scripted = {name: ScriptedProvider(name) for name in providers}
    registry = ProviderRegistry(Registration(p) for p in scripted.values())
    settings = ExecutorSettings(max_retries=2, backoff_base_ms=1, backoff_max_ms=1, jitter=False)

    async def no_sleep(_: float) -> None:
        return None

    executor = Executor(registry, settings, sleep=no_sleep, record_attempt=metrics.record_attempt)
    rulebook = RuleBook(
        load=lambda missing_ok: loads_rules_text("10-test.yaml", rules_yaml, providers=set(providers)),
        store=store,
        supported=HANDLED_VERDICTS | frozenset(features or ()),
    )
    await rulebook.start()
    recorder = Recorder(
        audit=audit,
        events=events,
        metrics=metrics,
        clock=clock,
        redact=lambda p: p,
        store_payload=True,
        retention_days=30,
        spool=None,
    )
    gateway = Gateway(
        rulebook=rulebook,
        store=store,
        executor=executor,
        providers=registry.__contains__,
        recorder=recorder,
        clock=clock,
        max_in_flight=100,
        features=features,
        breakers=Breakers(breakers, providers, store, clock) if breakers is not None else None,
    )
    return Harness(gateway, clock, store, audit, events, metrics, scripted, rulebook)


def action(**overrides: object) -> Action:
    values: dict[str, object] = {
        "id": "a-1",
        "namespace": "notifications",
        "tenant": "acme",
        "provider": "email",
        "action_type": "send_email",
        "payload": {"to": "bob@example.com"},
        "created_at": START,
    }
    values.update(overrides)
    return Action(**values)  # type: ignore[arg-type]


RULES = """
rules:
  - name: block-spam
    priority: 1
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
  - name: deny-prod
    priority: 2
    condition: {field: action.namespace, eq: prod}
    action: {type: deny, reason: "not in prod"}
  - name: to-sms
    priority: 3
    condition: {field: action.action_type, eq: page}
    action: {type: reroute, target_provider: sms}
  - name: tag
    priority: -5
    condition: {field: action.provider, eq: email}
    action: {type: modify, changes: {tracked: true}}
  - name: dedup
    priority: 10
    condition: {field: action.action_type, eq: welcome}
    action: {type: deduplicate, ttl_seconds: 300}
  - name: throttle
    priority: 20
    condition: {field: action.action_type, eq: alert}
    action: {type: throttle, max_count: 2, window_seconds: 60, key_fields: [payload.to]}
"""


@pytest.mark.parametrize(
    ("overrides", "category", "verdict", "rule"),
    [
        ({}, "executed", "modify", "tag"),
        ({"provider": "log"}, "executed", "allow", None),
        ({"action_type": "spam"}, "suppressed", "suppress", "block-spam"),
        ({"namespace": "prod"}, "suppressed", "deny", "deny-prod"),
        ({"action_type": "page"}, "rerouted", "reroute", "to-sms"),
        ({"action_type": "welcome"}, "executed", "deduplicate", "dedup"),
        ({"action_type": "alert"}, "executed", "throttle", "throttle"),
    ],
)
async def test_each_verdict_has_its_outcome_audit_event_and_counter(
    overrides: dict[str, object], category: str, verdict: str, rule: str | None
) -> None:
    h = await harness(RULES)
    result = await h.gateway.dispatch(action(**overrides), ANONYMOUS)
    assert result.outcome.category == category
    page = await h.audit.query(AuditQuery())
    assert [r.outcome for r in page.records] == [category]
    record = page.records[0]
    assert (record.verdict, record.matched_rule) == (verdict, rule)
    assert record.provider == overrides.get("provider", "email")
    events = h.events.retained()
    assert [e.type.value for e in events] == ["action_dispatched"]
    assert events[0].id == record.id
    snapshot = h.metrics.snapshot()
    assert snapshot["dispatched"] == 1 and snapshot[category] == 1


async def test_modify_patches_what_the_provider_sees_but_audit_keeps_the_original() -> None:
    h = await harness(RULES)
    await h.gateway.dispatch(action(), ANONYMOUS)
    assert h.providers["email"].calls[0].payload == {"to": "bob@example.com", "tracked": True}
    record = (await h.audit.query(AuditQuery())).records[0]
    assert record.action_payload == {"to": "bob@example.com"}


async def test_reroute_hands_the_target_provider_name_to_the_provider() -> None:
    h = await harness(RULES)
    result = await h.gateway.dispatch(action(action_type="page"), ANONYMOUS)
    assert result.body()["original_provider"] == "email"
    assert result.body()["new_provider"] == "sms"
    assert h.providers["sms"].calls[0].provider == "sms"
    assert not h.providers["email"].calls


async def test_dedup_first_claim_executes_then_duplicates_until_ttl() -> None:
    h = await harness(RULES)
    first = await h.gateway.dispatch(action(action_type="welcome", dedup_key="k"), ANONYMOUS)
    second = await h.gateway.dispatch(action(id="a-2", action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert first.outcome.category == "executed"
    assert second.body() == {
        "action_id": "a-2",
        "outcome": "deduplicated",
        "dedup_key": "k",
        "original_action_id": "a-1",
    }
    h.clock.advance(301)
    third = await h.gateway.dispatch(action(id="a-3", action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert third.outcome.category == "executed"
    assert len(h.providers["email"].calls) == 2


async def test_dedup_without_key_uses_the_action_id() -> None:
    h = await harness(RULES)
    await h.gateway.dispatch(action(action_type="welcome"), ANONYMOUS)
    again = await h.gateway.dispatch(action(action_type="welcome"), ANONYMOUS)
    assert again.body()["dedup_key"] == "a-1"


async def test_dedup_failed_execution_releases_the_key() -> None:
    h = await harness(RULES)
    h.providers["email"].script = [ProviderError("execution_failed", "HTTP 500", retryable=False)]
    failed = await h.gateway.dispatch(action(action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert failed.outcome.category == "failed"
    h.providers["email"].script = []
    retry = await h.gateway.dispatch(action(id="a-2", action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert retry.outcome.category == "executed"


async def test_dedup_keys_do_not_collide_across_escaped_scopes() -> None:
    h = await harness(RULES)
    a = await h.gateway.dispatch(
        action(namespace="a:b", tenant="c", action_type="welcome", dedup_key="k"), ANONYMOUS
    )
    b = await h.gateway.dispatch(
        action(id="a-2", namespace="a", tenant="b:c", action_type="welcome", dedup_key="k"), ANONYMOUS
    )
    assert (a.outcome.category, b.outcome.category) == ("executed", "executed")


async def test_50_concurrent_dispatches_with_one_key_execute_exactly_once() -> None:
    h = await harness(RULES)
    results = await asyncio.gather(
        *(
            h.gateway.dispatch(action(id=f"a-{i}", action_type="welcome", dedup_key="k"), ANONYMOUS)
            for i in range(50)
        )
    )
    categories = [r.outcome.category for r in results]
    assert categories.count("executed") == 1 and categories.count("deduplicated") == 49
    assert len(h.providers["email"].calls) == 1


async def test_throttle_fixed_window_and_retry_after() -> None:
    h = await harness(RULES)
    outcomes = [
        (await h.gateway.dispatch(action(id=f"a-{i}", action_type="alert"), ANONYMOUS)).body()
        for i in range(3)
    ]
    assert [o["outcome"] for o in outcomes] == ["executed", "executed", "throttled"]
    assert outcomes[2]["rule"] == "throttle"
    assert outcomes[2]["retry_after_seconds"] == 30  # window [14:30:00, 14:31:00), now 14:30:30
    other = await h.gateway.dispatch(action(id="b", action_type="alert", payload={"to": "x"}), ANONYMOUS)
    assert other.outcome.category == "executed"  # key_fields: another recipient, another counter
    h.clock.advance(30)
    assert (
        await h.gateway.dispatch(action(id="c", action_type="alert"), ANONYMOUS)
    ).outcome.category == "executed"


async def test_throttled_event_uses_the_stream_form() -> None:
    h = await harness(RULES)
    for i in range(3):
        await h.gateway.dispatch(action(id=f"a-{i}", action_type="alert"), ANONYMOUS)
    last = h.events.retained()[-1].to_json()
    assert last["outcome"] == {"Throttled": {"retry_after": {"secs": 30, "nanos": 0}}}


async def test_failed_after_retries_reports_attempts() -> None:
    h = await harness()
    h.providers["email"].script = [ProviderError("connection", "connection error: refused", retryable=True)]
    result = await h.gateway.dispatch(action(), ANONYMOUS)
    assert result.body()["error"] == {
        "code": "connection",
        "message": "connection error: refused",
        "retryable": True,
        "attempts": 3,
    }
    assert h.metrics.snapshot()["failed"] == 1


async def test_unknown_provider_leaves_no_trace() -> None:
    h = await harness(RULES)
    with pytest.raises(ProviderNotFound, match="Provider not found: fax"):
        await h.gateway.dispatch(action(provider="fax", action_type="welcome", dedup_key="k"), ANONYMOUS)
    assert (await h.audit.query(AuditQuery())).total == 0
    assert h.events.retained() == []
    assert h.metrics.snapshot()["dispatched"] == 0
    assert await h.store.get("notifications:acme:dedup:k") is None


async def test_suppress_checks_no_provider() -> None:
    h = await harness(RULES)
    result = await h.gateway.dispatch(action(provider="fax", action_type="spam"), ANONYMOUS)
    assert result.outcome.category == "suppressed"


async def test_dry_run_changes_nothing_but_its_counter() -> None:
    h = await harness(RULES)
    result = await h.gateway.dispatch(action(action_type="page"), ANONYMOUS, dry_run=True)
    assert result.body() == {
        "action_id": "a-1",
        "outcome": "dry_run",
        "verdict": "reroute",
        "matched_rule": "to-sms",
        "would_be_provider": "sms",
    }
    dedup = await h.gateway.dispatch(action(action_type="welcome", dedup_key="k"), ANONYMOUS, dry_run=True)
    assert dedup.body()["verdict"] == "deduplicate"
    assert await h.store.get("notifications:acme:dedup:k") is None
    assert not h.providers["sms"].calls and not h.providers["email"].calls
    assert (await h.audit.query(AuditQuery())).total == 0
    assert h.metrics.snapshot() == {**dict.fromkeys(h.metrics.snapshot(), 0), "dry_run": 2}


async def test_dry_run_still_reports_unknown_provider() -> None:
    h = await harness(RULES)
    with pytest.raises(ProviderNotFound):
        await h.gateway.dispatch(action(provider="fax"), ANONYMOUS, dry_run=True)


async def test_toggle_disables_a_rule_and_survives_a_new_rulebook() -> None:
    h = await harness(RULES)
    assert await h.rulebook.set_enabled("block-spam", False)
    assert (await h.gateway.dispatch(action(action_type="spam"), ANONYMOUS)).outcome.category == "executed"
    assert not await h.rulebook.set_enabled("nope", False)
    again = RuleBook(
        load=lambda missing_ok: loads_rules_text("x.yaml", RULES, providers={"email", "sms", "log"}),
        store=h.store,
        supported=HANDLED_VERDICTS,
    )
    await again.start()
    assert next(r for r in again.listing() if r["name"] == "block-spam")["enabled"] is False


async def test_verdicts_of_later_features_fail_to_load() -> None:
    rules = """
rules:
  - name: grp
    condition: {all: []}
    action: {type: group, group_by: [tenant]}
"""
    with pytest.raises(RuleLoadError) as info:
        await harness(rules)
    assert "rule 'grp': action.type: 'group' is not available yet" in str(info.value.errors[0].message)
    assert VerdictKind.GROUP not in HANDLED_VERDICTS


async def test_in_flight_cap_answers_429() -> None:
    h = await harness()
    gate = asyncio.Event()

    class Slow(ScriptedProvider):
        async def execute(self, action: Action, attempt: int) -> ProviderResponse:
            await gate.wait()
            return ProviderResponse("success", None, {})

    h2 = await harness()
    registry = ProviderRegistry([Registration(Slow("email"))])
    gateway = Gateway(
        rulebook=h2.rulebook,
        store=h2.store,
        executor=Executor(registry, ExecutorSettings()),
        providers=registry.__contains__,
        recorder=Recorder(
            audit=h2.audit,
            events=h2.events,
            metrics=h2.metrics,
            clock=h2.clock,
            redact=lambda p: p,
            store_payload=True,
            retention_days=0,
            spool=None,
        ),
        clock=h2.clock,
        max_in_flight=2,
    )
    running = [asyncio.create_task(gateway.dispatch(action(id=f"s{i}"), ANONYMOUS)) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(RateLimited) as info:
        await gateway.dispatch(action(id="third"), ANONYMOUS)
    assert info.value.retry_after == 1
    gate.set()
    await asyncio.gather(*running)
    del h


async def test_store_failure_before_the_provider_is_503_and_leaves_nothing() -> None:
    h = await harness(RULES)

    async def broken(*args: object, **kwargs: object) -> bool:
        raise BackendUnavailable("state store unavailable")

    h.store.put_if_absent = broken  # type: ignore[method-assign]
    with pytest.raises(BackendUnavailable):
        await h.gateway.dispatch(action(action_type="welcome"), ANONYMOUS)
    assert not h.providers["email"].calls
    assert (await h.audit.query(AuditQuery())).total == 0
    assert h.metrics.snapshot()["dispatched"] == 0


async def test_audit_expiry_follows_retention_days() -> None:
    h = await harness()
    await h.gateway.dispatch(action(), ANONYMOUS)
    record = (await h.audit.query(AuditQuery())).records[0]
    assert record.dispatched_at == START
    assert (record.expires_at - record.dispatched_at).days == 30  # type: ignore[operator]


GROUP_RULES = """
rules:
  - name: group-cluster
    priority: 1
    condition: {field: action.action_type, eq: cluster_cpu}
    action: {type: group, group_by: [metadata.cluster], group_wait_seconds: 60, notify_provider: sms}
"""


async def test_a_feature_handler_gets_its_verdict_and_its_events_precede_the_dispatch() -> None:
    seen: list[VerdictRun] = []

    async def group(run: VerdictRun) -> Handled:
        seen.append(run)
        added = new_event(
            EventType.GROUP_EVENT_ADDED,
            namespace=run.received.namespace,
            tenant=run.received.tenant,
            fields={"group_id": "g-1", "group_key": "k", "event_count": 1},
            now=START,
            action_type=run.received.action_type,
            action_id=run.received.id,
        )
        return Handled(Suppressed("stand-in for Grouped"), before=[added], chain_id="c-1")

    h = await harness(GROUP_RULES, features={VerdictKind.GROUP: group})
    result = await h.gateway.dispatch(action(action_type="cluster_cpu"), ANONYMOUS)
    assert [run.verdict.kind for run in seen] == [VerdictKind.GROUP]
    assert seen[0].caller is ANONYMOUS
    assert isinstance(result.outcome, Suppressed)
    types = [event.type for event in h.events.retained()]
    assert types == [EventType.GROUP_EVENT_ADDED, EventType.ACTION_DISPATCHED]
    record = await h.audit.get("a-1")
    assert record is not None and record.chain_id == "c-1"
    assert not any(p.calls for p in h.providers.values())


async def test_a_verdict_without_a_handler_does_not_load() -> None:
    with pytest.raises(RuleLoadError, match="not available"):
        await harness(GROUP_RULES)
