"""Task chains end to end (features.md §16): start a run, run its steps once cluster-wide, cancel, list.

Nothing runs inline: the ``chain`` verdict stores the run and arms a timer member (index ``chain-step``)
at the first step's due time and another at the chain timeout. Every member of a run, whatever armed it,
makes the handler *reconcile* the run at ``now``: time it out when expired, start the due step, replace
an attempt whose holder died, or do nothing. So a stale member is harmless and a missing one is repaired
by the next.

Exactly once: an attempt starts only under its lease (``chain_lease(chain_id, n)`` for the run's n-th
attempt, put-if-absent), and the ``step_start`` entry is a compare-and-set on the run, so two instances
can never start the same attempt. The holder renews the lease while the provider call runs and a
watchdog member at now + lease checks it; a lapsed lease (a crashed instance) lets another instance
start the next attempt number. Each step's work runs in a task of this object, so a slow provider never
holds up the timer loop; at most ``background.max_concurrent_chain_steps`` run at once per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tidegate.breakers import Breakers
from tidegate.chains.advance import (
    AttemptResult,
    new_run,
    processing,
    recorded,
    started,
    template_context,
    timed_out,
)
from tidegate.chains.advance import cancelled as cancel_run
from tidegate.chains.attempt import attempt_result, execute_step
from tidegate.chains.definitions import ChainDefinitions
from tidegate.chains.events import stream_events
from tidegate.chains.repository import ChainRepository
from tidegate.chains.run import ChainRun
from tidegate.chains.templates import render
from tidegate.chains.watch import ExecutionWatch
from tidegate.clock import Clock
from tidegate.config.chains import ChainsSettings, ChainStep
from tidegate.config.sections import BackgroundSettings
from tidegate.errors import BackendUnavailable, Conflict, NotFound
from tidegate.executor.runner import Executor
from tidegate.model.action import Action
from tidegate.model.caller import SYSTEM
from tidegate.model.ids import new_id
from tidegate.model.outcome import ChainStarted, Outcome
from tidegate.model.time import from_unix
from tidegate.model.verdict import ChainParams, VerdictKind
from tidegate.pipeline.gateway import Handled, VerdictRun
from tidegate.pipeline.recorder import Recorder
from tidegate.store.base import StateStore
from tidegate.workers.timers import Timers

__all__ = ["INDEX", "Chains"]

log = logging.getLogger(__name__)

INDEX = "chain-step"
#: Backoff between attempts to record a step's result while the store is unreachable (seconds).
_RECORD_RETRY_FIRST, _RECORD_RETRY_MAX = 0.1, 2.0
_VERDICT = VerdictKind.CHAIN.value


class Chains:
    def __init__(
        self,
        *,
        settings: ChainsSettings,
        background: BackgroundSettings,
        providers: frozenset[str],
        store: StateStore,
        timers: Timers,
        clock: Clock,
        executor: Executor,
        watch: ExecutionWatch,
    ) -> None:
        self._settings = settings
        self._lease = float(background.lease_seconds)
        self._poll = background.poll_interval_seconds
        self._max_steps = background.max_concurrent_chain_steps
        self._timers = timers
        self._clock = clock
        self._executor = executor
        self._owner = new_id().encode()
        self._breakers: Breakers | None = None
        self._recorder: Recorder | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.definitions = ChainDefinitions(settings.definitions, store, providers)
        self.repository = ChainRepository(
            store, clock, retention_seconds=settings.completed_retention_seconds, appended=watch.notify
        )
        timers.register(INDEX, self._on_due)

    async def start(self) -> None:
        """Read the API definitions' names before the rules load (rules may name them)."""
        await self.definitions.refresh()

    def attach(self, recorder: Recorder, breakers: Breakers | None) -> None:
        """The recorder of step audit records and chain events, and the breakers steps run through;
        both are built after the verdict handlers."""
        self._recorder, self._breakers = recorder, breakers

    @property
    def running_steps(self) -> int:
        return len(self._tasks)

    # -- the chain verdict -------------------------------------------------------------------------

    async def handle(self, run: VerdictRun) -> Handled:
        """Create the run (``initiated``) and schedule its first step (features.md §16 step 1)."""
        params = run.verdict.params
        if not isinstance(params, ChainParams):
            raise TypeError("chain verdict without chain parameters")
        sourced = await self.definitions.get(params.chain)
        if sourced is None:  # deleted after the rules loaded on this instance
            raise NotFound(f"chain definition not found: {params.chain}")
        definition = sourced.definition
        chain = new_run(
            chain_id=new_id(),
            definition=definition,
            origin=run.verdict.action,
            matched_rule=run.verdict.matched_rule,
            now=from_unix(run.now_ts),
            timeout_seconds=definition.timeout_seconds or self._settings.default_timeout_seconds,
        )
        # The timeout member first: a run stored but not scheduled (the store failing in between) still
        # ends at its timeout instead of staying ``running`` forever.
        await self._timers.arm(INDEX, _timeout_entity(chain.chain_id), chain.expires_at)
        await self.repository.create(chain)
        due_at = chain.due_at
        try:
            if due_at is not None:
                await self._arm(chain, "step", due_at, None, wake=False)
        except BackendUnavailable:
            with contextlib.suppress(BackendUnavailable):
                await self.repository.update(
                    chain.chain_id, lambda r: cancel_run(r, "could not be scheduled", "system", r.updated_at)
                )
            raise
        outcome = ChainStarted(chain.chain_id, definition.name, chain.total_steps, definition.steps[0].name)

        def wake() -> None:
            """The worker starts once this dispatch's ``action_dispatched`` is out (stream.md §1.8)."""
            if due_at is not None:
                self._timers.wake(INDEX, _entity(chain, "step"), due_at)

        return Handled(outcome, chain_id=chain.chain_id, after=wake)

    # -- requests --------------------------------------------------------------------------------

    async def cancel(self, chain_id: str, reason: str | None, by: str) -> ChainRun:
        """Cancel a running run (api.md §9): 404 unknown, 409 terminal. An attempt in flight finishes and
        its result is recorded after the ``cancelled`` entry; no further step starts."""
        now = self._clock.now()

        def change(run: ChainRun) -> ChainRun | None:
            after = cancel_run(run, reason, by, now)
            if after is None:
                raise Conflict(f"chain is not running (status: {run.status})")
            return after

        changed = await self._change(chain_id, change, now)
        if changed is None:
            raise NotFound(f"chain not found: {chain_id}")
        return changed

    async def listing(self, visible: Callable[[ChainRun], bool]) -> list[ChainRun]:
        """Every live run ``visible`` accepts, newest first."""
        runs = [run for run in await self.repository.scan() if visible(run)]
        runs.sort(key=lambda run: (run.started_at, run.chain_id), reverse=True)
        return runs

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - a grace period, not a call deadline
        """Shutdown: let running steps finish for up to ``timeout`` seconds, then cancel them (their
        leases lapse and another instance retries them)."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- the timer handler -----------------------------------------------------------------------

    async def _on_due(self, entity: str, due_at: datetime) -> None:
        """Reconcile the run at ``now``; every member of the run, current or stale, leads here."""
        chain_id = entity.partition("/")[0]
        run = await self.repository.load(chain_id)
        if run is None or run.terminal:
            return
        now = self._clock.now()
        if now >= run.expires_at:
            await self._change(chain_id, lambda r: timed_out(r, now), now)
            return
        if run.in_flight:
            if await self.repository.start_held(chain_id, run.starts):
                await self._arm(run, "watch", now + timedelta(seconds=self._lease), due_at)  # look again
                return
            log.warning(
                "chain %s: step %s attempt %d lost its holder; starting it again",
                chain_id,
                run.current_step,
                run.attempt,
            )
        elif run.due_at is None or run.due_at > now:
            if run.due_at is not None:
                await self._arm(run, "step", run.due_at, due_at)  # repairs a member lost in a crash
            return
        await self._start(run, now, due_at)

    async def _start(self, run: ChainRun, now: datetime, due_at: datetime) -> None:
        chain_id, start = run.chain_id, run.starts + 1
        if len(self._tasks) >= self._max_steps:  # this process is at its cap: look again shortly
            await self._arm(run, "step", now + timedelta(seconds=self._poll), due_at)
            return
        if not await self.repository.claim_start(chain_id, start, self._owner, self._lease):
            # Another instance starts it; look again after a lease in case it dies before recording it.
            await self._arm(run, "watch", now + timedelta(seconds=self._lease), due_at)
            return
        try:
            await self._change(chain_id, lambda r: processing(r, now), now)
            changed = await self._change(chain_id, lambda r: started(r, start, now), now)
            if changed is None:  # cancelled, timed out, or moved on meanwhile
                await self.repository.release_start(chain_id, start, self._owner)
                return
            await self._arm(changed, "watch", now + timedelta(seconds=self._lease), due_at)  # the watchdog
        except BaseException:
            with contextlib.suppress(Exception):
                await self.repository.release_start(chain_id, start, self._owner)
            raise
        task = asyncio.create_task(self._attempt(changed, start), name=f"tidegate:chain:{chain_id}")
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("chain step task failed", exc_info=task.exception())

    # -- one attempt -----------------------------------------------------------------------------

    async def _attempt(self, run: ChainRun, start: int) -> None:
        """Execute the in-flight attempt, record it (audit, then the run), then schedule what follows."""
        step = run.definition.step(run.current_step or "")
        if step is None:
            raise RuntimeError(f"chain {run.chain_id}: no current step")
        renewal = asyncio.create_task(self._renew(run.chain_id, start))
        try:
            began = self._clock.now()
            action = self._step_action(run, step, began)
            outcome = await execute_step(self._executor, self._breakers, action, step.timeout_seconds)
            await self._audit(run, action, outcome, began)
            changed = await self._record(run.chain_id, start, attempt_result(outcome))
        finally:
            renewal.cancel()
        with contextlib.suppress(BackendUnavailable):  # the lease lapses by itself
            await self.repository.release_start(run.chain_id, start, self._owner)
        if changed is not None and not changed.terminal and changed.due_at is not None:
            await self._arm(changed, "step", changed.due_at, None)

    async def _record(self, chain_id: str, start: int, result: AttemptResult) -> ChainRun | None:
        """Record the attempt's result, retrying while the store is unreachable (the lease is renewed
        meanwhile): the provider has run, and dropping the result would make the watchdog run the step
        again though nothing crashed. A result that no longer applies (another instance took over after
        a lapsed lease) is dropped by ``recorded``."""
        delay = _RECORD_RETRY_FIRST
        while True:
            now = self._clock.now()

            def change(run: ChainRun, at: datetime = now) -> ChainRun | None:
                return recorded(run, start, result, at)

            try:
                return await self._change(chain_id, change, now)
            except BackendUnavailable:
                log.warning("chain %s: could not record a step result; retrying in %.1f s", chain_id, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECORD_RETRY_MAX)

    async def _renew(self, chain_id: str, start: int) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self.repository.renew_start(chain_id, start, self._owner, self._lease)
            except BackendUnavailable:
                log.warning("chain %s: could not renew the step lease", chain_id)

    def _step_action(self, run: ChainRun, step: ChainStep, now: datetime) -> Action:
        """The step's action (§16 step 2): the origin's scope, the step's provider and type, the rendered
        payload, a new id, and the origin's labels plus ``chain_id`` and ``chain_step``."""
        origin = run.origin
        return Action(
            id=new_id(),
            namespace=origin.namespace,
            tenant=origin.tenant,
            provider=step.provider,
            action_type=step.action_type,
            payload=render(step.payload_template, template_context(run, step.name)),
            metadata={**origin.metadata, "chain_id": run.chain_id, "chain_step": step.name},
            created_at=now,
            trace_context=dict(origin.trace_context),
        )

    async def _audit(self, run: ChainRun, action: Action, outcome: Outcome, began: datetime) -> None:
        """One audit record per attempt: verdict ``chain``, the run's ``chain_id`` and starting rule."""
        if self._recorder is None:
            return
        try:
            await self._recorder.record_audit(
                action=action,
                verdict=_VERDICT,
                matched_rule=run.matched_rule,
                outcome=outcome,
                caller=SYSTEM,
                dispatched_at=began,
                chain_id=run.chain_id,
            )
        except Exception:  # the provider ran: the run must still record the result
            log.exception("could not write a chain step's audit record", extra={"chain_id": run.chain_id})

    # -- writes ----------------------------------------------------------------------------------

    async def _change(
        self, chain_id: str, change: Callable[[ChainRun], ChainRun | None], now: datetime
    ) -> ChainRun | None:
        """One compare-and-set on the run, then the /v1/stream events of the entries it appended."""
        changed = await self.repository.update(chain_id, change)
        if changed is None:
            return None
        before, after = changed
        if after.terminal and not before.terminal:
            await self._disarm_timeout(after)
        events = stream_events(after, after.history[len(before.history) :], now)
        if events and self._recorder is not None:
            try:
                await self._recorder.emit(events)
            except BackendUnavailable:
                log.error("chain %s: could not append its stream events", chain_id)
        return after

    async def _disarm_timeout(self, run: ChainRun) -> None:
        """A run that ended needs no timeout member: dropping it frees the in-process wake-up it holds
        until ``expires_at`` (a day by default, per run) and the member in the store. Best effort: a
        member left behind fires once, finds the run terminal and does nothing."""
        with contextlib.suppress(BackendUnavailable):
            await self._timers.disarm(INDEX, _timeout_entity(run.chain_id), run.expires_at)

    async def _arm(
        self, run: ChainRun, kind: str, when: datetime, current: datetime | None, *, wake: bool = True
    ) -> None:
        """Arm a member of the run unless it is due when the one firing now is (that one is unscheduled
        afterwards). The entity carries the purpose and the run's ``last_seq``, so two armings at the same
        instant (a manual clock, a step right after another) are distinct members with distinct claims."""
        if when != current:
            await self._timers.arm(INDEX, _entity(run, kind), when, wake=wake)


def _entity(run: ChainRun, kind: str) -> str:
    return f"{run.chain_id}/{kind}{run.last_seq}"


def _timeout_entity(chain_id: str) -> str:
    """The timeout member's entity: armed once, at creation, and dropped when the run ends."""
    return f"{chain_id}/timeout1"
