"""Recurring actions on one instance with SQLite state (features.md §17): lifecycle, fires, claims, limits
and a restart, driven by a ManualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.api.conftest import make_settings
from tests.recurring.support import START, draft
from tidegate.audit.base import AuditQuery
from tidegate.clock import ManualClock
from tidegate.errors import Conflict, NotFound
from tidegate.model.audit import AuditRecord
from tidegate.model.time import to_micros
from tidegate.recurring.repository import RecurringRepository
from tidegate.services import Services, close_services, open_services

MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def services(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Services]:
    opened = await open_services(
        make_settings(tmp_path, recurring={"max_per_tenant": 3}), clock, start_workers=False
    )
    try:
        yield opened
    finally:
        await close_services(opened)


async def fired(services: Services) -> list[AuditRecord]:
    assert services.audit is not None
    page = await services.audit.query(AuditQuery(action_type="daily_report", limit=1000))
    return sorted(page.records, key=lambda r: r.dispatched_at)


async def run_minutes(services: Services, clock: ManualClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(60)
        await services.timers.tick()


async def test_a_fire_dispatches_the_template_with_its_labels_and_dedup_key(
    services: Services, clock: ManualClock
) -> None:
    created = await services.recurring.create(draft())
    assert created.next_execution == START + MINUTE
    await run_minutes(services, clock, 1)
    [record] = await fired(services)
    assert record.outcome == "executed"
    assert record.metadata == {"team": "ops", "recurring_id": created.recurring_id}
    assert record.dedup_key == f"report-{created.recurring_id}-2026-02-10T12:01:00.000000Z"
    assert record.action_id != created.recurring_id
    after = await services.recurring.get(created.recurring_id)
    assert after is not None
    assert (after.execution_count, after.last_executed_at) == (1, START + MINUTE)
    assert after.next_execution == START + 2 * MINUTE


async def test_max_executions_and_ends_at_disable_the_action(services: Services, clock: ManualClock) -> None:
    capped = await services.recurring.create(draft(max_executions=2))
    ending = await services.recurring.create(draft(ends_at=START + 3 * MINUTE + timedelta(seconds=30)))
    await run_minutes(services, clock, 5)
    for recurring_id, count in ((capped.recurring_id, 2), (ending.recurring_id, 3)):
        after = await services.recurring.get(recurring_id)
        assert after is not None
        assert (after.enabled, after.next_execution, after.execution_count) == (False, None, count)
    assert len(await fired(services)) == 5


async def test_delete_stops_future_fires(services: Services, clock: ManualClock) -> None:
    created = await services.recurring.create(draft())
    await run_minutes(services, clock, 1)
    assert await services.recurring.delete(created.recurring_id)
    await run_minutes(services, clock, 3)
    assert len(await fired(services)) == 1
    assert not await services.recurring.delete(created.recurring_id)


async def test_a_claimed_occurrence_is_never_fired_again(services: Services, clock: ManualClock) -> None:
    """A crash after the claim loses that occurrence (at-most-once) but the schedule moves on."""
    created = await services.recurring.create(draft())
    repository = RecurringRepository(services.store)
    assert await repository.claim_fire(created.recurring_id, to_micros(START + MINUTE), 3600.0)
    await run_minutes(services, clock, 2)
    assert [r.dispatched_at for r in await fired(services)] == [START + 2 * MINUTE]
    after = await services.recurring.get(created.recurring_id)
    assert after is not None
    assert after.execution_count == 1


async def test_a_failed_fire_does_not_count_and_the_schedule_continues(
    services: Services, clock: ManualClock
) -> None:
    created = await services.recurring.create(draft(provider="gone"))  # the provider was removed
    await run_minutes(services, clock, 2)
    after = await services.recurring.get(created.recurring_id)
    assert after is not None
    assert (after.execution_count, after.next_execution) == (0, START + 3 * MINUTE)


async def test_pause_resume_and_conflicts(services: Services, clock: ManualClock) -> None:
    created = await services.recurring.create(draft("0 * * * *"))
    paused = await services.recurring.pause(created.recurring_id)
    assert (paused.enabled, paused.next_execution) == (False, None)
    with pytest.raises(Conflict, match="already paused"):
        await services.recurring.pause(created.recurring_id)
    clock.advance(3 * 3600)
    await services.timers.tick()
    assert await fired(services) == []
    resumed = await services.recurring.resume(created.recurring_id)
    assert resumed.next_execution == START + timedelta(hours=4)
    with pytest.raises(Conflict, match="already active"):
        await services.recurring.resume(created.recurring_id)
    with pytest.raises(NotFound):
        await services.recurring.pause("019c3882-7f00-7a00-8c00-000000000099")


async def test_an_update_of_the_cron_recomputes_next_execution(services: Services) -> None:
    created = await services.recurring.create(draft("0 * * * *"))
    renamed = await services.recurring.update(created.recurring_id, lambda a: a.replace(description="x"))
    assert renamed.next_execution == created.next_execution
    moved = await services.recurring.update(
        created.recurring_id, lambda a: a.replace(cron_expr="30 2 * * *", timezone="Europe/Berlin")
    )
    assert moved.next_execution == START.replace(day=11, hour=1, minute=30)


async def test_the_per_tenant_cap_counts_across_namespaces(services: Services) -> None:
    for namespace in ("a", "b", "c"):
        await services.recurring.create(draft(namespace=namespace))
    with pytest.raises(Conflict):
        await services.recurring.create(draft(namespace="d"))
    await services.recurring.create(draft(tenant="tenant-2"))


async def test_fires_resume_after_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    settings = make_settings(tmp_path)
    first = await open_services(settings, clock, start_workers=False)
    try:
        created = await first.recurring.create(draft())
    finally:
        await close_services(first)
    clock.advance(90)  # down over the 12:01 occurrence: it is 30 s late, so it fires normally
    second = await open_services(settings, clock, start_workers=False)
    try:
        await second.timers.tick()
        assert [r.dispatched_at for r in await fired(second)] == [START + timedelta(seconds=90)]
        after = await second.recurring.get(created.recurring_id)
        assert after is not None
        assert after.next_execution == START + 2 * MINUTE
    finally:
        await close_services(second)
