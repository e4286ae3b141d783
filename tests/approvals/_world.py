"""An in-process gateway with approvals: real rules, memory store and audit, a manual clock, timers
ticked by hand, and scripted providers standing in for the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.pipeline.test_gateway import ScriptedProvider
from tidegate.approvals import Approvals, Link
from tidegate.audit.memory import MemoryAuditStore
from tidegate.clock import ManualClock
from tidegate.config import ApprovalsSettings, ExecutorSettings
from tidegate.config.access import ApprovalKeySettings
from tidegate.executor.runner import Executor
from tidegate.metrics import Metrics
from tidegate.model.action import Action
from tidegate.model.verdict import VerdictKind
from tidegate.pipeline.gateway import HANDLED_VERDICTS, Gateway
from tidegate.pipeline.recorder import Recorder
from tidegate.pipeline.rulebook import RuleBook
from tidegate.providers.registry import ProviderRegistry, Registration
from tidegate.rules import loads_rules_text
from tidegate.store.memory import MemoryStateStore
from tidegate.stream.log import LocalEventLog
from tidegate.workers.timers import Timers

__all__ = ["BASE_URL", "KEY", "START", "World", "action", "link_of", "world"]

START = datetime(2026, 2, 7, 14, 30, 0, 250000, tzinfo=UTC)
BASE_URL = "https://gw.example"
KEY = ApprovalKeySettings(kid="k1", secret="00" * 32)  # type: ignore[arg-type]


@dataclass
class World:
    approvals: Approvals
    gateway: Gateway
    clock: ManualClock
    store: MemoryStateStore
    audit: MemoryAuditStore
    events: LocalEventLog
    metrics: Metrics
    providers: dict[str, ScriptedProvider]
    timers: Timers
    rules: list[str]  # the rule file's text: replace [0] and ``reload`` to change the rules
    rulebook: RuleBook
    registered: set[str] = field(default_factory=set)  # providers the gateway's check finds

    def event_types(self) -> list[str]:
        return [event.type.value for event in self.events.retained()]


async def world(
    rules_yaml: str,
    providers: Sequence[str] = ("email", "pager", "mail"),
    settings: ApprovalsSettings | None = None,
    store: MemoryStateStore | None = None,
    clock: ManualClock | None = None,
) -> World:
    clock = clock or ManualClock(START)
    store = store or MemoryStateStore(clock)
    audit = MemoryAuditStore()
    events = LocalEventLog(1000, 3600, clock.now)
    metrics = Metrics()
    scripted = {name: ScriptedProvider(name) for name in providers}
    registry = ProviderRegistry(Registration(p) for p in scripted.values())
    executor_settings = ExecutorSettings(max_retries=0, backoff_base_ms=1, backoff_max_ms=1, jitter=False)
    executor = Executor(registry, executor_settings, record_attempt=metrics.record_attempt)
    timers = Timers(store, clock, owner="test")
    approvals = Approvals(
        settings=settings or ApprovalsSettings(keys=[KEY]),
        store=store,
        executor=executor,
        timers=timers,
        clock=clock,
        base_url=BASE_URL,
    )
    rules = [rules_yaml]
    rulebook = RuleBook(
        load=lambda missing_ok: loads_rules_text("10-test.yaml", rules[0], providers=set(providers)),
        store=store,
        supported=HANDLED_VERDICTS | {VerdictKind.REQUEST_APPROVAL},
    )
    await rulebook.start()
    await approvals.start()
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
    registered = set(providers)
    gateway = Gateway(
        rulebook=rulebook,
        store=store,
        executor=executor,
        providers=registered.__contains__,
        recorder=recorder,
        clock=clock,
        max_in_flight=100,
        features={VerdictKind.REQUEST_APPROVAL: approvals.request},
    )
    approvals.attach(gateway, recorder)
    return World(
        approvals,
        gateway,
        clock,
        store,
        audit,
        events,
        metrics,
        scripted,
        timers,
        rules,
        rulebook,
        registered,
    )


def action(**overrides: object) -> Action:
    values: dict[str, object] = {
        "id": "a-1",
        "namespace": "payments",
        "tenant": "acme",
        "provider": "email",
        "action_type": "refund",
        "payload": {"amount": 1500},
        "created_at": START,
    }
    values.update(overrides)
    return Action(**values)  # type: ignore[arg-type]


def link_of(url: str) -> Link:
    """The signature query of an approve or reject URL."""
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    return Link(query.get("sig"), query.get("expires_at"), query.get("kid"))
