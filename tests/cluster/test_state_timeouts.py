"""State machines across instances on one Redis and on one PostgreSQL (features.md §14, §19, §20): a state
timeout fires once cluster-wide, however many instances poll the timers at the same instant, and an
event moved on one instance is seen and moved on any other."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster._cluster import clients, cluster, shared_state
from tests.cluster.test_shared_state import wait_until
from tests.state_machines.support import MACHINES, RULES, TIMEOUT_SECONDS, alert_action, machine_settings
from tidegate.audit.base import AuditQuery
from tidegate.clock import ManualClock
from tidegate.model.action import ActionRequest
from tidegate.model.caller import ANONYMOUS
from tidegate.model.event import StreamEvent
from tidegate.services import Services, close_services, open_services

EVENTS = 12


@dataclass
class Trio:
    instances: list[Services]
    clock: ManualClock

    async def log(self) -> list[StreamEvent]:
        """Every event in the shared log, read through the first instance."""
        page = await self.instances[0].events.read_after(None, 10_000)
        return [entry.event for entry in page.entries]

    async def notified(self) -> dict[str, str]:
        """action id -> fingerprint of every state notification, from each instance's own audit trail."""
        found: dict[str, str] = {}
        for services in self.instances:
            assert services.audit is not None
            page = await services.audit.query(AuditQuery(action_type="state_notification", limit=1000))
            for record in page.records:
                assert isinstance(record.action_payload, dict)
                found[record.action_id] = str(record.action_payload["fingerprint"])
        return found


@pytest.fixture(params=["redis", "postgres"])
async def trio(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Trio]:
    """Three instances' services (timer loops not started: the test ticks them) on one shared backend."""
    clock = ManualClock()
    async with shared_state(request.param) as state:
        instances: list[Services] = []
        try:
            for n in range(3):
                settings = machine_settings(tmp_path / f"instance-{n}", state=state)
                instances.append(await open_services(settings, clock, start_workers=False))
            yield Trio(instances, clock)
        finally:
            for services in instances:
                await close_services(services)


async def test_a_state_timeout_fires_once_cluster_wide(trio: Trio) -> None:
    for n in range(EVENTS):
        action = ActionRequest.model_validate(alert_action(f"fp-{n}")).normalize(trio.clock.now())
        await trio.instances[n % 3].gateway.dispatch(action, ANONYMOUS)
    trio.clock.advance(TIMEOUT_SECONDS)
    for _ in range(2):  # every instance polls the same due members at the same instant, twice
        await asyncio.gather(*(services.timers.tick() for services in trio.instances))
    events = await trio.log()
    timeouts = Counter(str(e.fields["fingerprint"]) for e in events if e.type.value == "timeout")
    assert timeouts == {f"fp-{n}": 1 for n in range(EVENTS)}
    notified = await trio.notified()
    assert sorted(notified.values()) == sorted(timeouts)  # one notification per timeout, cluster-wide
    executed = sum(services.metrics.snapshot()["executed"] for services in trio.instances)
    assert executed == EVENTS
    for fingerprint in timeouts:  # each event's own order: action_status_changed -> timeout -> notification
        own = [
            e.type.value
            for e in events
            if e.fields.get("fingerprint") == fingerprint or notified.get(e.action_id or "") == fingerprint
        ]
        assert own[-3:] == ["action_status_changed", "timeout", "action_dispatched"], own
    records = await trio.instances[1].state_machines.states.scan("monitoring", "tenant-1")
    assert sorted(record.state for record in records) == ["stale"] * EVENTS


@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_an_event_moves_on_any_instance_and_times_out_once(tmp_path: Path, backend: str) -> None:
    clock = ManualClock()
    async with (
        cluster(
            tmp_path,
            backend,
            RULES,
            clock=clock,
            count=3,
            state_machines=MACHINES,
            background={"poll_interval_seconds": 0.1},
        ) as running,
        clients(running.urls) as (a, b, c),
    ):
        where = {"namespace": "monitoring", "tenant": "tenant-1"}
        assert (await a.post("/v1/dispatch", json=alert_action("moved"))).status_code == 200
        assert (await b.post("/v1/dispatch", json=alert_action("timed"))).status_code == 200
        moved = await b.put("/v1/events/moved/transition", json={"to_state": "acknowledged", **where})
        assert (moved.status_code, moved.json()["previous_state"]) == (200, "firing")
        seen = (await c.get("/v1/events/moved", params=where)).json()
        assert (seen["state"], seen["timeout_at"]) == ("acknowledged", None)
        clock.advance(TIMEOUT_SECONDS)  # three timer loops poll every 0.1 s

        async def state() -> object:
            return (await a.get("/v1/events/timed", params=where)).json()["state"]

        await wait_until(state, "stale", within=10)
        await asyncio.sleep(0.5)  # five more polls on each instance: room for any duplicate
        totals = [(await client.get("/metrics")).json() for client in (a, b, c)]
        assert sum(t["executed"] for t in totals) == 1  # the one notification, of the one timeout
        listing = (await c.get("/v1/events", params={**where, "status": "stale"})).json()
        assert [event["fingerprint"] for event in listing["events"]] == ["timed"]
