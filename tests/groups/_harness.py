"""In-process instances of the grouping feature: real rules, gateway, recorder, timers and a real state
store, a manual clock, and recording providers standing in for the outside world.

Several instances may share one store and one event log, as processes sharing a backend do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tidegate.audit.memory import MemoryAuditStore
from tidegate.clock import ManualClock
from tidegate.config import ExecutorSettings
from tidegate.executor.runner import Executor
from tidegate.groups import EventGroups
from tidegate.metrics import Metrics
from tidegate.model.action import Action
from tidegate.model.caller import ANONYMOUS
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.outcome import ProviderResponse
from tidegate.model.verdict import VerdictKind
from tidegate.pipeline.gateway import HANDLED_VERDICTS, Gateway
from tidegate.pipeline.recorder import Recorder
from tidegate.pipeline.result import DispatchResult
from tidegate.pipeline.rulebook import RuleBook
from tidegate.providers.registry import ProviderRegistry, Registration
from tidegate.rules import loads_rules_text
from tidegate.store.base import StateStore
from tidegate.stream.log import LocalEventLog
from tidegate.workers.timers import Timers

START = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
LEASE = 30

RULES = """
rules:
  - name: group-cluster-alerts
    priority: 1
    condition: {field: action.action_type, eq: cluster_cpu}
    action:
      type: group
      group_by: [metadata.cluster, action.metadata.severity]
      group_wait_seconds: 60
      group_interval_seconds: 300
      max_group_size: 5
      notify_provider: pager
"""


@dataclass
class RecordingProvider:
    """Answers success and keeps every action it was given."""

    name: str
    calls: list[Action] = field(default_factory=list)

    async def execute(self, action: Action, attempt: int) -> ProviderResponse:
        self.calls.append(action)
        return ProviderResponse("success", {"ok": True}, {})

    async def close(self) -> None:
        return None


@dataclass
class Instance:
    gateway: Gateway
    groups: EventGroups
    timers: Timers
    audit: MemoryAuditStore
    providers: dict[str, RecordingProvider]

    def notifications(self) -> list[Action]:
        return [
            call
            for p in self.providers.values()
            for call in p.calls
            if call.action_type == "group_notification"
        ]

    async def dispatch(self, action: Action) -> DispatchResult:
        return await self.gateway.dispatch(action, ANONYMOUS)

    async def tick(self) -> None:
        """One timer poll, then wait for the notifications it started."""
        await self.timers.tick()
        await self.groups.drain(10)


async def instance(
    store: StateStore,
    clock: ManualClock,
    events: LocalEventLog,
    *,
    rules: str = RULES,
    owner: str = "instance-0",
    provider_names: Sequence[str] = ("pager", "log"),
    audit: MemoryAuditStore | None = None,
    max_in_flight: int = 1000,
) -> Instance:
    providers = {name: RecordingProvider(name) for name in provider_names}
    registry = ProviderRegistry(Registration(p) for p in providers.values())

    async def no_sleep(_: float) -> None:
        return None

    settings = ExecutorSettings(max_retries=0, backoff_base_ms=1, backoff_max_ms=1, jitter=False)
    metrics = Metrics()
    executor = Executor(registry, settings, sleep=no_sleep, record_attempt=metrics.record_attempt)
    timers = Timers(store, clock, owner=owner, lease_seconds=LEASE)
    groups = EventGroups(store, clock, timers, lease_seconds=LEASE)
    rulebook = RuleBook(
        load=lambda missing_ok: loads_rules_text("10-groups.yaml", rules, providers=set(provider_names)),
        store=store,
        supported=HANDLED_VERDICTS | {VerdictKind.GROUP},
    )
    await rulebook.start()
    audit = audit or MemoryAuditStore()
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
        max_in_flight=max_in_flight,
        features={VerdictKind.GROUP: groups.handle},
    )
    groups.attach(gateway, recorder)
    return Instance(gateway, groups, timers, audit, providers)


def alert(n: int, cluster: str = "eu-1", severity: str = "high", **changes: object) -> Action:
    action = Action(
        id=f"alert-{n}",
        namespace="alerts",
        tenant="acme",
        provider="slack",
        action_type="cluster_cpu",
        payload={"cpu": 90 + n},
        metadata={"cluster": cluster, "severity": severity},
        fingerprint=f"fp-{n}",
        status="firing",
        created_at=START,
    )
    return action.replace(**changes) if changes else action


def kinds(events: Sequence[StreamEvent]) -> list[tuple[str, str | None]]:
    """``(type, action_id)`` of each event; the notification's own dispatch shows its action type."""
    return [
        (e.type.value, "notification" if e.action_type == "group_notification" else e.action_id)
        for e in events
    ]


def of_type(events: Sequence[StreamEvent], kind: EventType) -> list[StreamEvent]:
    return [e for e in events if e.type is kind]
