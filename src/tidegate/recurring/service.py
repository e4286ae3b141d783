"""Recurring actions (features.md §17): lifecycle changes and the fires, once cluster-wide.

State lives only in the store, so any instance can change or fire any action. A fire is a timer member
(index ``recurring``) at ``next_execution``; every instance polls it, and the permanent claim of the
(recurring id, occurrence) pair makes exactly one instance dispatch it, even across crashes and replays."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from tidegate.clock import Clock
from tidegate.config.sections import RecurringSettings
from tidegate.errors import Conflict, NotFound, TidegateError
from tidegate.model.caller import SYSTEM
from tidegate.model.ids import new_id
from tidegate.model.time import to_micros
from tidegate.pipeline.gateway import Gateway
from tidegate.recurring.record import RecurringAction
from tidegate.recurring.repository import RecurringRepository
from tidegate.recurring.schedule import Schedule, occurrence_to_fire, parse_schedule
from tidegate.store.base import StateStore
from tidegate.workers.timers import Timers

__all__ = ["INDEX", "RecurringActions", "advanced"]

log = logging.getLogger(__name__)

INDEX = "recurring"
#: How long a fire claim is kept (features.md §17: permanent, TTL 7 days).
_CLAIM_TTL = 7 * 86400.0


class RecurringActions:
    def __init__(self, settings: RecurringSettings, store: StateStore, timers: Timers, clock: Clock) -> None:
        self._settings = settings
        self._repository = RecurringRepository(store)
        self._timers = timers
        self._clock = clock
        self._gateway: Gateway | None = None
        timers.register(INDEX, self._on_due)

    def attach(self, gateway: Gateway) -> None:
        """Fires dispatch through ``gateway``, built after this object (services.py)."""
        self._gateway = gateway

    def schedule(self, cron_expr: str, timezone: str) -> Schedule:
        """Validate a cron expression and zone now (400 ``invalid_cron`` / ``invalid_timezone``)."""
        return parse_schedule(
            cron_expr,
            timezone,
            now=self._clock.now(),
            min_interval_seconds=self._settings.min_interval_seconds,
        )

    async def create(self, draft: RecurringAction) -> RecurringAction:
        """Store ``draft`` (its schedule already validated) and arm its first fire; 409 over the cap."""
        tenant_total = sum(1 for a in await self._repository.scan() if a.tenant == draft.tenant)
        if tenant_total >= self._settings.max_per_tenant:
            raise Conflict(
                f"tenant already has the maximum of {self._settings.max_per_tenant} recurring actions"
            )
        now = self._clock.now()
        action = _rescheduled(draft.replace(created_at=now, updated_at=now), now)
        if not await self._repository.write(action, None):
            raise Conflict("recurring action already exists")
        await self._arm(action)
        return action

    async def get(self, recurring_id: str) -> RecurringAction | None:
        stored = await self._repository.read(recurring_id)
        return None if stored is None else stored.action

    async def list_all(self) -> list[RecurringAction]:
        """Every tenant's actions, newest first (the router filters them)."""
        return sorted(await self._repository.scan(), key=lambda a: a.created_at, reverse=True)

    async def update(
        self, recurring_id: str, change: Callable[[RecurringAction], RecurringAction]
    ) -> RecurringAction:
        """Apply ``change`` by compare-and-set; a new cron, zone or ``enabled`` recomputes the schedule."""
        while True:
            stored = await self._repository.read(recurring_id)
            if stored is None:
                raise NotFound("recurring action not found")
            before, now = stored.action, self._clock.now()
            after = change(before).replace(updated_at=now)
            if (after.cron_expr, after.timezone, after.enabled) != (
                before.cron_expr,
                before.timezone,
                before.enabled,
            ):
                after = _rescheduled(after, now)
            if await self._repository.write(after, stored.version):
                await self._arm(after)
                return after

    async def pause(self, recurring_id: str) -> RecurringAction:
        def paused(action: RecurringAction) -> RecurringAction:
            if not action.enabled:
                raise Conflict("recurring action is already paused")
            return action.replace(enabled=False)

        return await self.update(recurring_id, paused)

    async def resume(self, recurring_id: str) -> RecurringAction:
        def resumed(action: RecurringAction) -> RecurringAction:
            if action.enabled:
                raise Conflict("recurring action is already active")
            return action.replace(enabled=True)

        return await self.update(recurring_id, resumed)

    async def delete(self, recurring_id: str) -> bool:
        """Future fires stop at once: the timer member finds no action (a claimed fire completes)."""
        return await self._repository.delete(recurring_id)

    async def _arm(self, action: RecurringAction) -> None:
        if action.next_execution is not None:
            await self._timers.arm(INDEX, action.recurring_id, action.next_execution)

    async def _on_due(self, recurring_id: str, due_at: datetime) -> None:
        """Fire the action if it is still due at ``due_at`` and this instance wins the occurrence's claim."""
        stored = await self._repository.read(recurring_id)
        if stored is None or not stored.action.enabled or stored.action.next_execution != due_at:
            return  # deleted, paused or moved: a stale member
        action, now = stored.action, self._clock.now()
        schedule = parse_schedule(action.cron_expr, action.timezone, now=due_at, min_interval_seconds=0)
        occurrence, skipped = occurrence_to_fire(
            schedule, due_at, now, catch_up_window_seconds=self._settings.catch_up_window_seconds
        )
        if skipped:
            log.info("recurring action %s: %d missed occurrence(s) skipped", recurring_id, skipped)
        fired = False
        if occurrence is not None and await self._repository.claim_fire(
            recurring_id, to_micros(occurrence), _CLAIM_TTL
        ):
            fired = await self._dispatch(action, occurrence, now)
        await self._advance(recurring_id, due_at, counted=fired)

    async def _dispatch(self, action: RecurringAction, occurrence: datetime, now: datetime) -> bool:
        if self._gateway is None:
            raise RuntimeError("recurring actions fired before attach()")
        fired = action.fired_action(new_id(), occurrence, now)
        try:
            await self._gateway.dispatch(fired, SYSTEM, internal=True)
        except TidegateError as exc:
            log.error("recurring action %s: fire failed: %s", action.recurring_id, exc.message)
            return False
        return True

    async def _advance(self, recurring_id: str, due_at: datetime, *, counted: bool) -> None:
        while True:
            stored = await self._repository.read(recurring_id)
            if stored is None:
                return
            after = advanced(stored.action, due_at, self._clock.now(), counted=counted)
            if after == stored.action:
                return
            if await self._repository.write(after, stored.version):
                await self._arm(after)
                return


def advanced(action: RecurringAction, due_at: datetime, now: datetime, *, counted: bool) -> RecurringAction:
    """The action after its fire due at ``due_at`` (features.md §17 step 3). A fire that did not dispatch
    (claim lost, skipped, or an error) does not count; the schedule moves on only if nothing moved it."""
    after = action
    if counted:
        after = after.replace(last_executed_at=now, execution_count=after.execution_count + 1)
    if after.enabled and after.next_execution == due_at:
        after = _rescheduled(after, now)
    if after.max_executions is not None and after.execution_count >= after.max_executions:
        after = after.replace(enabled=False, next_execution=None)
    return after


def _rescheduled(action: RecurringAction, now: datetime) -> RecurringAction:
    """``next_execution`` from ``now``: null when paused, after ``ends_at`` (then also disabled), or done."""
    if not action.enabled:
        return action.replace(next_execution=None)
    schedule = parse_schedule(action.cron_expr, action.timezone, now=now, min_interval_seconds=0)
    upcoming = schedule.next_after(now)
    if upcoming is None or (action.ends_at is not None and upcoming > action.ends_at):
        return action.replace(enabled=False, next_execution=None)
    return action.replace(next_execution=upcoming)
