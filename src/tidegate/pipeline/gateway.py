"""The Gateway: the one path every action takes (features.md §1).

Decide (rules, pure), check the provider, act (the verdict's handler), record (audit, events, counters).
HTTP dispatches, batch items and internal dispatches all call ``dispatch``; nothing else executes an
action. Handlers return an ``Outcome``; only ``_record`` writes audit, stream and metrics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tidegate.breakers import Breakers
from tidegate.clock import Clock
from tidegate.embeddings import SemanticPending
from tidegate.errors import BackendUnavailable, ProviderNotFound, RateLimited
from tidegate.executor.runner import Executor
from tidegate.model.action import Action
from tidegate.model.caller import SYSTEM, Caller
from tidegate.model.event import StreamEvent
from tidegate.model.outcome import (
    ActionError,
    CircuitOpen,
    Deduplicated,
    DryRun,
    Executed,
    Failed,
    Outcome,
    Rerouted,
    Suppressed,
    Throttled,
)
from tidegate.model.verdict import (
    AllowParams,
    DedupParams,
    GroupParams,
    RerouteParams,
    ThrottleParams,
    Verdict,
    VerdictKind,
)
from tidegate.pipeline.claims import DoubtfulClaims
from tidegate.pipeline.observer import DispatchObserver
from tidegate.pipeline.recorder import Recorder
from tidegate.pipeline.result import DispatchResult
from tidegate.pipeline.rulebook import RuleBook
from tidegate.pipeline.throttle import window_for
from tidegate.rules import key_hash
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["HANDLED_VERDICTS", "FeatureHandler", "Gateway", "Handled", "VerdictRun"]

log = logging.getLogger(__name__)

_Handler = Callable[["VerdictRun"], Awaitable["Outcome | Handled"]]
#: A stateful feature's verdict handler (groups, state machines, approvals, chains), given to the Gateway.
FeatureHandler = _Handler

#: Verdict kinds this build can act on; rule files using others fail to load (RuleBook).
HANDLED_VERDICTS = frozenset(
    {
        VerdictKind.ALLOW,
        VerdictKind.MODIFY,
        VerdictKind.DENY,
        VerdictKind.SUPPRESS,
        VerdictKind.DEDUPLICATE,
        VerdictKind.THROTTLE,
        VerdictKind.REROUTE,
    }
)

_EXECUTING_PROVIDER = {
    VerdictKind.ALLOW,
    VerdictKind.MODIFY,
    VerdictKind.DEDUPLICATE,
    VerdictKind.THROTTLE,
    VerdictKind.REQUEST_APPROVAL,
}

#: Verdicts an internal notification never re-enters: they execute as ``allow`` (features.md §1 loop guards).
_LOOP_GUARDED = frozenset(
    {VerdictKind.GROUP, VerdictKind.STATE_MACHINE, VerdictKind.REQUEST_APPROVAL, VerdictKind.CHAIN}
)


@dataclass(frozen=True, slots=True)
class VerdictRun:
    """Everything a verdict handler needs about one dispatch (``verdict.action`` is after any modify)."""

    received: Action
    verdict: Verdict
    now_ts: float
    observer: DispatchObserver | None
    caller: Caller


@dataclass(frozen=True, slots=True)
class Handled:
    """A feature handler's result: the outcome, the events that precede its ``action_dispatched``
    (stream.md §1.8: group_event_added, action_status_changed, approval_required) and the chain it
    started, for the audit record.

    ``after`` is called once the dispatch's record step has ended, appended or raised (a size-triggered
    group flush must follow this dispatch's events); it must not block: it schedules its own work."""

    outcome: Outcome
    before: Sequence[StreamEvent] = ()
    chain_id: str | None = None
    after: Callable[[], None] | None = None


class Gateway:
    def __init__(
        self,
        *,
        rulebook: RuleBook,
        store: StateStore,
        executor: Executor,
        providers: Callable[[str], bool],
        recorder: Recorder,
        clock: Clock,
        max_in_flight: int,
        doubtful_claims: DoubtfulClaims | None = None,
        features: Mapping[VerdictKind, FeatureHandler] | None = None,
        breakers: Breakers | None = None,
    ) -> None:
        """``doubtful_claims``: dedup claims to release in the background (its ``sweep`` must run).
        ``features``: the handlers of the stateful verdicts (the rule book accepts only handled kinds).
        ``breakers``: the circuit breakers, None when they are disabled (features.md §10)."""
        self._breakers = breakers
        self._rulebook = rulebook
        self._doubtful = doubtful_claims or DoubtfulClaims(store, clock)
        self._store = store
        self._executor = executor
        self._has_provider = providers
        self._recorder = recorder
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._handlers: dict[VerdictKind, _Handler] = {
            VerdictKind.ALLOW: self._execute_as_sent,
            VerdictKind.MODIFY: self._execute_as_sent,
            VerdictKind.DENY: self._suppress,
            VerdictKind.SUPPRESS: self._suppress,
            VerdictKind.DEDUPLICATE: self._deduplicate,
            VerdictKind.THROTTLE: self._throttle,
            VerdictKind.REROUTE: self._reroute,
        }
        self._handlers.update(features or {})

    @property
    def doubtful_claims(self) -> DoubtfulClaims:
        """Dedup claims being released in the background; its ``sweep`` is a supervisor loop."""
        return self._doubtful

    async def dispatch(
        self,
        action: Action,
        caller: Caller,
        *,
        dry_run: bool = False,
        observer: DispatchObserver | None = None,
        internal: bool = False,
    ) -> DispatchResult:
        """Run one action through the pipeline and return its final outcome; ``observer`` hears its steps.

        ``internal``: a notification a feature sends (group flush, state notification): it enters at
        step 5 (no in-flight cap), and a group, state-machine, approval or chain verdict on it executes as
        ``allow``, so it never re-enters the feature that produced it (features.md §1 loop guards).

        Raises ProviderNotFound (before any state change), RateLimited (in-flight cap) and
        BackendUnavailable (a store failed before any provider call, or the embedding provider failed
        with ``embedding.fail_open`` false: nothing executed or recorded)."""
        if self._in_flight >= self._max_in_flight and not internal:
            raise RateLimited("too many dispatches in flight", retry_after=1)
        self._in_flight += 1
        try:
            return await self._dispatch(action, caller, dry_run, observer, internal)
        finally:
            self._in_flight -= 1

    async def _dispatch(
        self,
        action: Action,
        caller: Caller,
        dry_run: bool,
        observer: DispatchObserver | None,
        internal: bool = False,
    ) -> DispatchResult:
        now = self._clock.now()
        try:
            verdict = self._rulebook.evaluate(action, now)
        except SemanticPending:  # a semantic_match lacks an embedding: fetched off the loop
            verdict = await self._rulebook.decide(action, now)
        if internal and verdict.kind in _LOOP_GUARDED:
            verdict = replace(verdict, kind=VerdictKind.ALLOW, params=AllowParams())
        target = self._target_provider(verdict)
        if target is not None and not self._has_provider(target):
            raise ProviderNotFound(target)
        if dry_run:
            if observer is not None:
                self._decided(observer, verdict)
            self._recorder.count_dry_run()
            return DispatchResult(
                action, DryRun(verdict.kind.value, verdict.matched_rule, target or action.provider)
            )
        await self._recorder.ensure_ready()
        if observer is not None:
            self._decided(observer, verdict)
        return await self._act(action, verdict, now, caller, observer)

    async def resume(
        self, action: Action, *, received: Action, after_rule: str, before: Sequence[StreamEvent] = ()
    ) -> DispatchResult:
        """Run an approved action through the rest of the pipeline as the system caller (features.md §15).

        Rule evaluation resumes after ``after_rule`` (the approval rule) in the current order, or, when that
        rule no longer exists, evaluates every rule and skips approval rules. ``action`` is the stored action
        (earlier modify patches applied), ``received`` the action as first dispatched (the audit keeps its
        payload), ``before`` the events that precede this run's ``action_dispatched`` (approval_resolved).
        Enters at step 5 (no in-flight cap) and raises as ``dispatch`` does, before any state change."""
        now = self._clock.now()
        rule = self._rulebook.rules.find(after_rule)
        if rule is not None:
            verdict = await self._rulebook.decide(action, now, start_after=rule.position)
        else:
            verdict = await self._rulebook.decide(action, now, skip_approval=True)
        target = self._target_provider(verdict)
        if target is not None and not self._has_provider(target):
            raise ProviderNotFound(target)
        await self._recorder.ensure_ready()
        return await self._act(received, verdict, now, SYSTEM, None, before)

    async def _act(
        self,
        action: Action,
        verdict: Verdict,
        now: datetime,
        caller: Caller,
        observer: DispatchObserver | None,
        first: Sequence[StreamEvent] = (),
    ) -> DispatchResult:
        """Steps 9-13: the verdict's handler, then the record step (``first`` events lead the others)."""
        handler = self._handlers[verdict.kind]
        handled = await handler(VerdictRun(action, verdict, now.timestamp(), observer, caller))
        before: Sequence[StreamEvent] = first
        chain_id = None
        after: Callable[[], None] | None = None
        if isinstance(handled, Handled):
            outcome, chain_id = handled.outcome, handled.chain_id
            before = [*first, *handled.before]
            after = handled.after
        else:
            outcome = handled
        try:
            spooled = await self._recorder.record(
                action=action,
                provider=action.provider,
                verdict=verdict.kind.value,
                matched_rule=verdict.matched_rule,
                outcome=outcome,
                caller=caller,
                dispatched_at=now,
                before=before,
                chain_id=chain_id,
            )
        finally:
            if after is not None:
                after()
        return DispatchResult(action, outcome, spooled)

    def _decided(self, observer: DispatchObserver, verdict: Verdict) -> None:
        rule = self._rulebook.rules.find(verdict.matched_rule) if verdict.matched_rule else None
        observer.on_decided(verdict, rule.priority if rule is not None else None)

    @staticmethod
    def _target_provider(verdict: Verdict) -> str | None:
        """The provider the verdict would run on (D5); None where nothing is checked."""
        params = verdict.params
        if isinstance(params, RerouteParams):
            return params.target_provider
        if isinstance(params, GroupParams):  # the notification's provider (D5, features.md §1)
            return params.notify_provider or verdict.action.provider
        if verdict.kind in _EXECUTING_PROVIDER:
            return verdict.action.provider
        return None

    # -- verdict handlers -------------------------------------------------------------------------

    async def _execute_as_sent(self, run: VerdictRun) -> Outcome:
        action = run.verdict.action
        if self._breakers is None:
            result = await self._executor.execute(action, action.provider, observer=run.observer)
            if isinstance(result, ActionError):
                return Failed(result)
            return Executed(result)
        return await self._guarded(self._breakers, action, action.provider, run.observer, None)

    async def _guarded(
        self,
        breakers: Breakers,
        action: Action,
        provider: str,
        observer: DispatchObserver | None,
        rerouted_from: str | None,
    ) -> Outcome:
        """Execute on ``provider`` through its breaker, or on the first fallback whose breaker accepts
        (features.md §10). ``rerouted_from``: a rule reroute's provider as sent (always ``rerouted``);
        None: a fallback from ``provider`` is ``rerouted``, ``provider`` itself is ``executed``."""
        route = await breakers.route(provider)
        if route.provider is None:
            return CircuitOpen(provider, route.fallback_chain)
        target = route.provider
        if target != action.provider:
            action = action.replace(provider=target)
        result = await self._executor.execute(action, target, observer=observer)
        try:
            await breakers.record(target, result)
        except Exception:  # the provider ran: the dispatch must still answer with its result
            log.exception("could not record a circuit breaker result", extra={"provider": target})
        if isinstance(result, ActionError):
            return Failed(result)
        if rerouted_from is not None:
            return Rerouted(rerouted_from, target, result)
        if target == provider:
            return Executed(result)
        return Rerouted(provider, target, result)

    async def _suppress(self, run: VerdictRun) -> Outcome:
        return Suppressed(run.verdict.matched_rule or "")

    async def _reroute(self, run: VerdictRun) -> Outcome:
        params = run.verdict.params
        if not isinstance(params, RerouteParams):
            raise TypeError("reroute verdict without reroute parameters")
        target = params.target_provider
        action = run.verdict.action.replace(provider=target)
        if self._breakers is not None:
            return await self._guarded(self._breakers, action, target, run.observer, run.received.provider)
        result = await self._executor.execute(action, target, observer=run.observer)
        if isinstance(result, ActionError):
            return Failed(result)
        return Rerouted(run.received.provider, target, result)

    async def _deduplicate(self, run: VerdictRun) -> Outcome:
        """First claim of (namespace, tenant, key) executes; a failed execution releases the claim (D9)."""
        params = run.verdict.params
        if not isinstance(params, DedupParams):
            raise TypeError("deduplicate verdict without dedup parameters")
        action = run.verdict.action
        effective = action.dedup_key or action.id
        key = keys.dedup(action.namespace, action.tenant, effective)
        claim = action.id.encode()
        if not await self._claim(key, claim, params.ttl_seconds):
            holder = await self._store.get(key)
            if holder is None or not self._doubtful.holds(key, holder):
                return Deduplicated(effective, holder.decode() if holder is not None else None)
            # The ghost of a dispatch that answered 503 here: it executed nothing, so it holds nothing.
            await self._doubtful.release(key, holder)
            if not await self._claim(key, claim, params.ttl_seconds):
                holder = await self._store.get(key)
                return Deduplicated(effective, holder.decode() if holder is not None else None)
        outcome = await self._execute_as_sent(run)
        if isinstance(outcome, (Failed, CircuitOpen)):  # nothing delivered: the key is free (features.md §3)
            try:
                await self._store.delete_if_equals(key, claim)
            except Exception:
                log.exception("could not release dedup claim", extra={"action_id": action.id})
                self._doubtful.add(key, claim, params.ttl_seconds)  # released in the background
        return outcome

    async def _claim(self, key: str, claim: bytes, ttl: float) -> bool:
        """Put-if-absent; a claim whose call failed may still land, so it is released in the background."""
        try:
            return await self._store.put_if_absent(key, claim, ttl)
        except BackendUnavailable:
            self._doubtful.add(key, claim, ttl)
            raise

    async def _throttle(self, run: VerdictRun) -> Outcome:
        """Count this dispatch in its fixed window; over ``max_count`` it is throttled, never executed."""
        params = run.verdict.params
        if not isinstance(params, ThrottleParams):
            raise TypeError("throttle verdict without throttle parameters")
        action = run.verdict.action
        window = window_for(run.now_ts, params.window_seconds)
        rule = run.verdict.matched_rule or ""
        key = keys.throttle(
            action.namespace, action.tenant, rule, key_hash(action, params.key_fields), window.start
        )
        count = await self._store.incr(key, 1, ttl=2 * params.window_seconds)
        if count > params.max_count:
            return Throttled(rule, window.retry_after(run.now_ts))
        return await self._execute_as_sent(run)
