"""State machines in one process (features.md §14): the verdict, timeouts and REST moves, on the real
services (SQLite state, the local event log) with a manual clock and the timer loop ticked by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from tests.state_machines.support import TIMEOUT_SECONDS, alert_action, machine_settings
from tidegate.clock import ManualClock
from tidegate.errors import InvalidInput, InvalidTransition, NotFound
from tidegate.model.action import ActionRequest
from tidegate.model.caller import ANONYMOUS
from tidegate.model.event import StreamEvent
from tidegate.model.outcome import Executed, StateChanged
from tidegate.pipeline.result import DispatchResult
from tidegate.services import Services, close_services, open_services
from tidegate.state_machines import TIMEOUT_INDEX


@dataclass
class Harness:
    services: Services
    clock: ManualClock
    _last: str | None = field(default=None)

    async def dispatch(self, body: dict[str, object]) -> DispatchResult:
        action = ActionRequest.model_validate(body).normalize(self.clock.now())
        return await self.services.gateway.dispatch(action, ANONYMOUS)

    async def events(self) -> list[StreamEvent]:
        """The events appended since the previous call, after the started notifications finished."""
        await self.services.state_machines.drain(5.0)
        page = await self.services.events.read_after(self._last, 1000)
        if page.entries:
            self._last = page.entries[-1].event.id
        return [entry.event for entry in page.entries]

    async def state(self, fingerprint: str = "alert-cluster1-cpu") -> dict[str, object]:
        record = await self.services.state_machines.states.get("monitoring", "tenant-1", fingerprint)
        assert record is not None
        return dict(record.to_state())


def kinds(events: list[StreamEvent]) -> list[str]:
    return [event.type.value for event in events]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    clock = ManualClock()
    services = await open_services(machine_settings(tmp_path), clock, start_workers=False)
    try:
        yield Harness(services, clock)
    finally:
        await close_services(services)


async def test_a_new_event_starts_in_the_initial_state_with_its_timeout_armed(harness: Harness) -> None:
    result = await harness.dispatch(alert_action())
    assert result.outcome == StateChanged("alert-cluster1-cpu", "firing", "firing", False, True)
    events = await harness.events()
    assert kinds(events) == ["action_dispatched"]  # no change, so no action_status_changed
    due = harness.clock.now() + timedelta(seconds=TIMEOUT_SECONDS)
    assert await harness.state() == {
        "fingerprint": "alert-cluster1-cpu",
        "namespace": "monitoring",
        "tenant": "tenant-1",
        "state_machine": "alert",
        "state": "firing",
        "action_type": "cpu_alert",
        "updated_at": "2026-02-07T14:30:00.000000Z",
        "timeout_at": "2026-02-07T14:30:01.000000Z",
    }
    assert [when for _, when in await harness.services.store.due(TIMEOUT_INDEX, due)] == [due]


async def test_an_allowed_status_moves_the_event_and_its_notification_follows(harness: Harness) -> None:
    await harness.dispatch(alert_action())
    await harness.events()
    result = await harness.dispatch(alert_action(status="resolved"))
    assert result.outcome == StateChanged("alert-cluster1-cpu", "firing", "resolved", True, True)
    changed, dispatched, notification = await harness.events()
    assert (changed.type.value, dispatched.type.value) == ("action_status_changed", "action_dispatched")
    assert changed.fields == {
        "fingerprint": "alert-cluster1-cpu",
        "state_machine": "alert",
        "previous_status": "firing",
        "new_status": "resolved",
    }
    assert (changed.action_id, changed.action_type) == (result.action.id, "cpu_alert")
    assert dispatched.action_id == result.action.id
    # the notification is an internal dispatch matched by the ``alerts`` rule: the loop guard runs it as allow
    assert notification.type.value == "action_dispatched"
    assert notification.action_type == "state_notification"
    assert notification.fields["provider"] == "log"
    assert "Executed" in notification.fields["outcome"]  # type: ignore[operator]
    state = await harness.state()
    assert (state["state"], state["timeout_at"]) == ("resolved", None)  # resolved has no timeout


async def test_a_status_outside_the_table_keeps_the_state(harness: Harness) -> None:
    await harness.dispatch(alert_action(status="acknowledged"))
    result = await harness.dispatch(alert_action(status="firing"))  # acknowledged -> firing is not listed
    assert result.outcome == StateChanged("alert-cluster1-cpu", "acknowledged", "acknowledged", False, False)
    assert kinds(await harness.events()) == [
        "action_status_changed",
        "action_dispatched",
        "action_dispatched",
    ]
    assert (await harness.state())["state"] == "acknowledged"


async def test_without_a_fingerprint_nothing_is_stored_or_recorded(harness: Harness) -> None:
    with pytest.raises(InvalidInput, match="fingerprint required"):
        await harness.dispatch(alert_action(fingerprint=None))
    assert await harness.events() == []
    assert await harness.services.state_machines.states.scan() == []
    # with the rule's field present, the fingerprint is derived
    result = await harness.dispatch(alert_action(fingerprint=None, metadata={"cluster": "eu-1"}))
    assert isinstance(result.outcome, StateChanged)
    assert len(result.outcome.fingerprint) == 64


async def test_concurrent_moves_of_one_event_apply_one_after_the_other(harness: Harness) -> None:
    await harness.dispatch(alert_action())
    await harness.events()
    results = await asyncio.gather(
        *(harness.dispatch(alert_action(status="acknowledged")) for _ in range(20))
    )
    outcomes = [r.outcome for r in results]
    moved = [o for o in outcomes if isinstance(o, StateChanged) and o.previous_state == "firing"]
    assert len(moved) == 1, outcomes  # every other dispatch found the event acknowledged already
    assert kinds(await harness.events()).count("action_status_changed") == 1


async def test_the_timeout_fires_moves_notifies_and_arms_the_next(harness: Harness) -> None:
    await harness.dispatch(alert_action())
    await harness.events()
    await harness.services.timers.tick()
    assert await harness.events() == []  # not due yet
    harness.clock.advance(TIMEOUT_SECONDS)
    await harness.services.timers.tick()
    changed, timeout, notification = await harness.events()
    assert changed.type.value == "action_status_changed"
    assert changed.action_id is None
    assert changed.fields["new_status"] == "stale"
    assert timeout.to_json() == {
        "id": timeout.id,
        "timestamp": "2026-02-07T14:30:01.000000Z",
        "type": "timeout",
        "fingerprint": "alert-cluster1-cpu",
        "state_machine": "alert",
        "previous_state": "firing",
        "new_state": "stale",
        "namespace": "monitoring",
        "tenant": "tenant-1",
        "action_type": "cpu_alert",
    }
    assert (notification.type.value, notification.action_type) == ("action_dispatched", "state_notification")
    state = await harness.state()
    assert (state["state"], state["timeout_at"]) == ("stale", "2026-02-07T14:40:01.000000Z")  # stale's own
    await harness.services.timers.tick()
    assert await harness.events() == []  # fired once


async def test_a_moved_event_cancels_its_old_timeout(harness: Harness) -> None:
    await harness.dispatch(alert_action())
    await harness.dispatch(alert_action(status="acknowledged"))
    await harness.events()
    harness.clock.advance(TIMEOUT_SECONDS)
    assert await harness.services.store.due(TIMEOUT_INDEX, harness.clock.now()) == []
    await harness.services.timers.tick()
    assert await harness.events() == []
    assert (await harness.state())["state"] == "acknowledged"


async def test_a_stale_timer_member_does_nothing(harness: Harness) -> None:
    """A member left behind (a crash between arming and writing, or before the cancel) fires as a no-op."""
    await harness.dispatch(alert_action())
    await harness.events()
    record = await harness.services.state_machines.states.get("monitoring", "tenant-1", "alert-cluster1-cpu")
    assert record is not None and record.timeout_at is not None
    ref = record.timer_ref()
    assert ref is not None
    ghost = ref.entity().replace(ref.token, "an-old-token")
    await harness.services.timers.arm(TIMEOUT_INDEX, ghost, record.timeout_at)
    await harness.services.state_machines.on_timeout(ghost, record.timeout_at)
    await harness.services.state_machines.on_timeout(ref.entity(), record.timeout_at + timedelta(seconds=1))
    assert await harness.events() == []
    assert (await harness.state())["state"] == "firing"


async def test_rest_moves_follow_the_table(harness: Harness) -> None:
    machines = harness.services.state_machines
    with pytest.raises(NotFound, match="event not found: alert-cluster1-cpu"):
        await machines.transition("monitoring", "tenant-1", "alert-cluster1-cpu", "acknowledged")
    await harness.dispatch(alert_action())
    await harness.events()
    with pytest.raises(InvalidTransition, match="transition from 'firing' to 'stale' is not allowed"):
        await machines.transition("monitoring", "tenant-1", "alert-cluster1-cpu", "stale")
    same = await machines.transition("monitoring", "tenant-1", "alert-cluster1-cpu", "firing")
    assert (same.move.previous, same.move.new, same.move.notify) == ("firing", "firing", False)
    assert await harness.events() == []  # a no-op emits nothing
    harness.clock.advance(0.5)
    moved = await machines.transition("monitoring", "tenant-1", "alert-cluster1-cpu", "resolved")
    assert moved.to_json() == {
        "fingerprint": "alert-cluster1-cpu",
        "namespace": "monitoring",
        "tenant": "tenant-1",
        "state_machine": "alert",
        "previous_state": "firing",
        "new_state": "resolved",
        "notify": True,
    }
    changed, notification = await harness.events()
    assert changed.action_id is None and changed.fields["new_status"] == "resolved"
    assert notification.action_type == "state_notification"
    state = await harness.state()
    assert (state["updated_at"], state["timeout_at"]) == ("2026-02-07T14:30:00.500000Z", None)
    harness.clock.advance(TIMEOUT_SECONDS)  # the firing timeout was cancelled by the move
    await harness.services.timers.tick()
    assert await harness.events() == []


async def test_an_event_keeps_the_machine_that_created_it(harness: Harness) -> None:
    await harness.dispatch(alert_action(fingerprint="shared"))
    ticket = alert_action(fingerprint="shared", action_type="ticket", status="closed")
    result = await harness.dispatch(ticket)  # the ticket rule names machine ``ticket``
    assert result.outcome == StateChanged("shared", "firing", "firing", False, False)
    assert (await harness.state("shared"))["state_machine"] == "alert"


async def test_the_notification_of_a_dispatch_does_not_reenter_the_machine(harness: Harness) -> None:
    await harness.dispatch(alert_action(status="resolved"))  # new event: firing -> resolved, notify
    events = await harness.events()
    notification = events[-1]
    assert notification.action_type == "state_notification"
    assert isinstance(notification.fields["outcome"], dict) and "Executed" in notification.fields["outcome"]
    assert [record.fingerprint for record in await harness.services.state_machines.states.scan()] == [
        "alert-cluster1-cpu"
    ]
    assert harness.services.metrics.snapshot()["executed"] == 1


async def test_a_record_expires_after_its_retention(harness: Harness) -> None:
    first = await harness.dispatch(alert_action(status="acknowledged"))
    assert isinstance(first.outcome, StateChanged)
    harness.clock.advance(3600)  # retention_seconds of the alert machine
    result = await harness.dispatch(alert_action())
    assert result.outcome == StateChanged(
        "alert-cluster1-cpu", "firing", "firing", False, True
    )  # a new event


async def test_a_dispatch_outcome_is_executed_for_other_rules(harness: Harness) -> None:
    result = await harness.dispatch({**alert_action(), "namespace": "elsewhere"})
    assert isinstance(result.outcome, Executed)
