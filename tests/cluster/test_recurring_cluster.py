"""Recurring actions across three instances on one Redis and one PostgreSQL (features.md §17, §19): every
instance polls the timers at the same instants, driven by one ManualClock, and each minute's occurrence
is dispatched exactly once cluster-wide."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.conftest import make_settings
from tests.cluster._cluster import shared_state
from tests.recurring.support import START, draft
from tidegate.audit.base import AuditQuery
from tidegate.clock import ManualClock
from tidegate.model.audit import AuditRecord
from tidegate.services import Services, close_services, open_services

MINUTES = 5


@dataclass
class Trio:
    instances: list[Services]
    clock: ManualClock

    async def tick_all(self) -> None:
        for _ in range(2):  # every instance polls the same due members at the same instant, twice
            await asyncio.gather(*(services.timers.tick() for services in self.instances))

    async def fired(self) -> list[AuditRecord]:
        """Every fire's audit record, from each instance's own audit trail."""
        found: list[AuditRecord] = []
        for services in self.instances:
            assert services.audit is not None
            page = await services.audit.query(AuditQuery(action_type="daily_report", limit=1000))
            found.extend(page.records)
        return found


@pytest.fixture(params=["redis", "postgres"])
async def trio(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Trio]:
    clock = ManualClock(START)
    async with shared_state(request.param) as state:
        instances: list[Services] = []
        try:
            for n in range(3):
                settings = make_settings(tmp_path / f"instance-{n}", state=state)
                instances.append(await open_services(settings, clock, start_workers=False))
            yield Trio(instances, clock)
        finally:
            for services in instances:
                await close_services(services)


async def test_an_every_minute_action_fires_once_per_minute_cluster_wide(trio: Trio) -> None:
    created = await trio.instances[0].recurring.create(draft("* * * * *"))
    for _ in range(MINUTES):
        trio.clock.advance(60)
        await trio.tick_all()
    fired = await trio.fired()
    assert sorted(record.dispatched_at.minute for record in fired) == list(range(1, MINUTES + 1))
    assert {record.metadata["recurring_id"] for record in fired} == {created.recurring_id}
    assert {record.caller_id for record in fired} == {"system"}
    stored = await trio.instances[2].recurring.get(created.recurring_id)
    assert stored is not None
    assert stored.execution_count == MINUTES
    assert stored.next_execution == START.replace(minute=MINUTES + 1)


async def test_a_pause_on_one_instance_stops_the_fires_of_all(trio: Trio) -> None:
    created = await trio.instances[0].recurring.create(draft("* * * * *"))
    trio.clock.advance(60)
    await trio.tick_all()
    await trio.instances[1].recurring.pause(created.recurring_id)
    trio.clock.advance(180)
    await trio.tick_all()
    assert len(await trio.fired()) == 1
    resumed = await trio.instances[2].recurring.resume(created.recurring_id)
    assert resumed.next_execution == START.replace(minute=5)  # from now, no catch-up for the pause
    trio.clock.advance(60)
    await trio.tick_all()
    assert len(await trio.fired()) == 2
