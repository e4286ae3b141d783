"""State machines at work (features.md §14, D11): the ``state_machine`` verdict, timeouts and REST moves.

All three change an event the same way (``_update``): read the record with its version, decide (pure,
``table.py``), arm the new state's timeout, compare-and-set, and retry on conflict, so concurrent moves of
one event apply one after the other on any number of instances. The new timeout is armed *before* the
write, so a crash can leave a stale timer member (it fires harmlessly) but never an event whose timeout
is not armed; the old member is cancelled after the write. Then come the stream events and, when the move
notifies, the state notification: an internal dispatch through the gateway, after the move's events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import overload

from tidegate.clock import Clock
from tidegate.config.state_machines import StateMachineSettings
from tidegate.errors import BackendUnavailable, InvalidTransition, NotFound, TidegateError
from tidegate.model.caller import SYSTEM
from tidegate.model.event import StreamEvent
from tidegate.model.ids import new_id
from tidegate.model.json import JsonObject
from tidegate.model.outcome import StateChanged
from tidegate.model.time import from_unix
from tidegate.model.verdict import StateMachineParams
from tidegate.pipeline.gateway import Gateway, Handled, VerdictRun
from tidegate.pipeline.recorder import Recorder
from tidegate.state_machines.fingerprint import fingerprint_of
from tidegate.state_machines.notification import state_notification
from tidegate.state_machines.record import EventRecord, TimerRef, Trigger
from tidegate.state_machines.repository import EventStates
from tidegate.state_machines.stream_events import status_changed, timed_out
from tidegate.state_machines.table import Move, decide, decide_rest, decide_timeout, timeout_at
from tidegate.store.base import StateStore
from tidegate.workers.follow_ups import FollowUps
from tidegate.workers.timers import Timers

__all__ = ["TIMEOUT_INDEX", "StateMachines", "Transitioned"]

log = logging.getLogger(__name__)

#: The timer index of every event's armed timeout.
TIMEOUT_INDEX = "state-timeouts"
#: Compare-and-set attempts before giving up (503): each conflict means another move of the same event
#: landed, so this many is far beyond any real contention.
_MAX_ATTEMPTS = 500


@dataclass(frozen=True, slots=True)
class _Step:
    """One attempt's decision: the record after the move, and whether it must be written."""

    record: EventRecord
    move: Move
    machine: StateMachineSettings
    write: bool = True


#: Decides one attempt from the current record (None: no event yet).
_Plan = Callable[[EventRecord | None], _Step]
#: A plan that may decline (None: nothing to do, e.g. a stale timer).
_DecliningPlan = Callable[[EventRecord | None], _Step | None]


@dataclass(frozen=True, slots=True)
class Transitioned:
    """The answer of a REST move (api.md §6)."""

    record: EventRecord
    move: Move

    def to_json(self) -> JsonObject:
        return {
            "fingerprint": self.record.fingerprint,
            "namespace": self.record.namespace,
            "tenant": self.record.tenant,
            "state_machine": self.record.state_machine,
            "previous_state": self.move.previous,
            "new_state": self.move.new,
            "notify": self.move.notify,
        }


class StateMachines:
    """The configured machines, their events in the state store, and their timeouts on ``timers``.

    Built before the gateway (its verdict handler is one of the gateway's features) and given the gateway
    and recorder by ``attach``, for the notifications and the events that belong to no dispatch."""

    def __init__(
        self, machines: Sequence[StateMachineSettings], store: StateStore, timers: Timers, clock: Clock
    ) -> None:
        self._machines = {machine.name: machine for machine in machines}
        self._states = EventStates(store)
        self._timers = timers
        self._clock = clock
        self._gateway: Gateway | None = None
        self._recorder: Recorder | None = None
        self._notifications = FollowUps("state notification")
        timers.register(TIMEOUT_INDEX, self.on_timeout)

    def attach(self, gateway: Gateway, recorder: Recorder) -> None:
        self._gateway = gateway
        self._recorder = recorder

    @property
    def states(self) -> EventStates:
        """The event records, for reads (``GET /v1/events``)."""
        return self._states

    async def drain(self, grace_seconds: float) -> None:
        """Let the notifications dispatches started finish (up to ``grace_seconds``), e.g. before the
        stores close; later dispatches may start new ones."""
        await self._notifications.drain(grace_seconds)

    # -- the three ways an event moves ------------------------------------------------------------

    async def on_verdict(self, run: VerdictRun) -> Handled:
        """The ``state_machine`` verdict (§14 steps 1-10). Raises InvalidInput when there is no
        fingerprint (400, nothing stored) and BackendUnavailable before anything is written (503)."""
        params = run.verdict.params
        if not isinstance(params, StateMachineParams):
            raise TypeError("state_machine verdict without state machine parameters")
        action = run.verdict.action
        fingerprint = fingerprint_of(action, params.fingerprint_fields)
        named = self._machines[params.state_machine]  # the rule loader checked the name
        now = from_unix(run.now_ts)

        def plan(current: EventRecord | None) -> _Step:
            machine = self._machine_for(current, named)
            move = decide(machine, machine.initial_state if current is None else current.state, action.status)
            record = EventRecord(
                namespace=action.namespace,
                tenant=action.tenant,
                fingerprint=fingerprint,
                state_machine=machine.name,
                state=move.new,
                action_type=action.action_type,
                last_action_id=action.id,
                created_at=now if current is None else current.created_at,
                updated_at=now,
                transitioned_by=Trigger.DISPATCH,
                timeout_at=None,
                timer=None,
            )
            if current is not None and not move.changed:  # same state: the armed timeout stays
                record = replace(
                    record,
                    transitioned_by=current.transitioned_by,
                    timeout_at=current.timeout_at,
                    timer=current.timer,
                )
            else:
                record = _armed(record, machine, now)
            return _Step(record, move, machine)

        step = await self._update(action.namespace, action.tenant, fingerprint, plan)
        move = step.move
        outcome = StateChanged(fingerprint, move.previous, move.new, move.notify, move.allowed)
        before = [status_changed(step.record, move, now, action.id)] if move.changed else []
        after = None
        if move.notify:

            def after() -> None:
                self._notifications.start(self._notify(step, Trigger.DISPATCH, action.id, now))

        return Handled(outcome, before=before, after=after)

    async def on_timeout(self, entity_id: str, due_at: datetime) -> None:
        """A due timer (``Timers``): move the event if it is still in the state that armed this member.

        Idempotent: a member whose token the record no longer holds (moved, re-armed, expired, redone
        after a crash) does nothing."""
        ref = TimerRef.parse(entity_id)
        if ref is None:
            log.error("state timeout member %r is not one of ours; dropped", entity_id)
            return
        now = self._clock.now()

        def plan(current: EventRecord | None) -> _Step | None:
            if current is None or current.timer != ref.token or current.timeout_at != due_at:
                return None
            machine = self._machines.get(current.state_machine)
            decided = None if machine is None else decide_timeout(machine, current.state)
            if machine is None or decided is None:  # the definition changed since the timer was armed
                return None
            move, _ = decided
            moved = replace(current, state=move.new, updated_at=now, transitioned_by=Trigger.TIMEOUT)
            return _Step(_armed(moved, machine, now), move, machine)

        step = await self._update(ref.namespace, ref.tenant, ref.fingerprint, plan)
        if step is None:
            return
        await self._emit(
            [status_changed(step.record, step.move, now, None), timed_out(step.record, step.move, now)]
        )
        if step.move.notify:
            await self._notify(step, Trigger.TIMEOUT, None, now)

    async def transition(self, namespace: str, tenant: str, fingerprint: str, to_state: str) -> Transitioned:
        """``PUT /v1/events/{fingerprint}/transition``: NotFound (404), then InvalidTransition (409); the
        current state as target changes and emits nothing."""
        now = self._clock.now()

        def plan(current: EventRecord | None) -> _Step:
            if current is None:
                raise NotFound(f"event not found: {fingerprint}")
            machine = self._machines.get(current.state_machine)
            if machine is None:  # its machine left the config: no move is in any table
                raise InvalidTransition(current.state, to_state)
            move = decide_rest(machine, current.state, to_state)
            if not move.changed:
                return _Step(current, move, machine, write=False)
            moved = replace(current, state=move.new, updated_at=now, transitioned_by=Trigger.API)
            return _Step(_armed(moved, machine, now), move, machine)

        step = await self._update(namespace, tenant, fingerprint, plan)
        if step.move.changed:
            await self._emit([status_changed(step.record, step.move, now, None)])
        if step.move.notify:
            await self._notify(step, Trigger.API, None, now)
        return Transitioned(step.record, step.move)

    # -- shared steps -----------------------------------------------------------------------------

    @overload
    async def _update(self, namespace: str, tenant: str, fingerprint: str, plan: _Plan) -> _Step: ...

    @overload
    async def _update(
        self, namespace: str, tenant: str, fingerprint: str, plan: _DecliningPlan
    ) -> _Step | None: ...

    async def _update(
        self, namespace: str, tenant: str, fingerprint: str, plan: _DecliningPlan
    ) -> _Step | None:
        """Read, decide, arm, compare-and-set; retried on conflict. None when ``plan`` declines."""
        for _ in range(_MAX_ATTEMPTS):
            current, version = await self._states.read(namespace, tenant, fingerprint)
            step = plan(current)
            if step is None or not step.write:
                return step
            record = step.record
            fresh = record.timer_ref() if current is None or current.timer != record.timer else None
            if fresh is not None and record.timeout_at is not None:
                await self._timers.arm(TIMEOUT_INDEX, fresh.entity(), record.timeout_at)
            if await self._states.write(record, version, step.machine.retention_seconds):
                if current is not None and current.timer != record.timer:
                    await self._cancel(current)
                return step
            if fresh is not None and record.timeout_at is not None:  # its token is ours alone
                await self._timers.disarm(TIMEOUT_INDEX, fresh.entity(), record.timeout_at)
            await asyncio.sleep(0)
        raise BackendUnavailable(f"event {fingerprint} kept changing; try again")

    async def _cancel(self, old: EventRecord) -> None:
        """Cancel the previous state's timeout; after the write, so a failure only leaves a stale member."""
        ref = old.timer_ref()
        if ref is None or old.timeout_at is None:
            return
        try:
            await self._timers.disarm(TIMEOUT_INDEX, ref.entity(), old.timeout_at)
        except Exception:
            log.exception("could not cancel a replaced state timeout; it will fire as a no-op")

    def _machine_for(self, current: EventRecord | None, named: StateMachineSettings) -> StateMachineSettings:
        """An event keeps the machine it was created by, whatever machine a later rule names (choice)."""
        if current is None or current.state_machine == named.name:
            return named
        machine = self._machines.get(current.state_machine)
        if machine is None:
            log.warning(
                "event %s belongs to state machine '%s', which is no longer configured; using '%s'",
                current.fingerprint,
                current.state_machine,
                named.name,
            )
            return named
        log.warning(
            "rule names state machine '%s' for event %s of machine '%s'; the event keeps its machine",
            named.name,
            current.fingerprint,
            machine.name,
        )
        return machine

    async def _emit(self, events: Sequence[StreamEvent]) -> None:
        recorder = self._recorder
        if recorder is None:
            raise RuntimeError("StateMachines.attach was not called")
        await recorder.emit(events)

    async def _notify(self, step: _Step, trigger: Trigger, action_id: str | None, now: datetime) -> None:
        """Dispatch the state notification; its failure is logged, since the move has happened already."""
        gateway, provider = self._gateway, step.machine.notify_provider
        if gateway is None or provider is None:  # config validation requires the provider with notify
            log.error(
                "state notification of %s not sent: no gateway or notify_provider", step.record.fingerprint
            )
            return
        action = state_notification(step.record, step.move, trigger, action_id, provider, now)
        try:
            await gateway.dispatch(action, SYSTEM, internal=True)
        except TidegateError as exc:
            log.error(
                "state notification not dispatched: %s",
                exc.message,
                extra={"action_id": action.id, "tenant": action.tenant, "provider": provider},
            )


def _armed(record: EventRecord, machine: StateMachineSettings, entered_at: datetime) -> EventRecord:
    """``record`` with the timeout of its state armed from ``entered_at`` under a new token, or none."""
    due = timeout_at(machine, record.state, entered_at)
    return replace(record, timeout_at=due, timer=None if due is None else new_id())
