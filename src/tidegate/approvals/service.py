"""Approvals end to end (features.md §15): hold an action, notify, decide once, expire, carry it out.

The ``request_approval`` verdict handler stores the approval, arms its expiry timer, sends the
notification and answers ``pending_approval``. A decision runs the checks of api.md §7 in order
(signature, record, decided, expired), then one compare-and-set picks the single winner among concurrent
decisions on any instance. Approving hands the stored action to ``Gateway.resume``, so it is audited and
streamed like any dispatch, with ``approval_resolved`` just before its ``action_dispatched``; rejecting and
expiring write their own audit record and ``approval_resolved``.

A crash between winning the decision and executing leaves the approval ``approved`` without an
execution: at most once, never twice. A failure the pipeline reports before any provider call (provider
no longer configured, a store outage) puts the approval back to ``pending``, so the link can be used
again."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from tidegate.approvals.keyring import load_link_keys
from tidegate.approvals.notifier import Notifier
from tidegate.approvals.record import LINK, Approval, ApprovalStatus, Decision, Gate, gate
from tidegate.approvals.repository import ApprovalRef, ApprovalRepository, Stored
from tidegate.approvals.signing import Link, LinkKeys, approval_urls
from tidegate.clock import Clock
from tidegate.config import ApprovalsSettings
from tidegate.errors import (
    ApprovalDecided,
    ApprovalExpired,
    BackendUnavailable,
    InvalidSignature,
    NotFound,
    TidegateError,
)
from tidegate.executor.runner import Executor
from tidegate.model.caller import SYSTEM, Caller
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.ids import new_secret_id
from tidegate.model.json import JsonObject
from tidegate.model.outcome import PendingApproval
from tidegate.model.time import format_ts, from_unix
from tidegate.model.verdict import ApprovalParams, VerdictKind
from tidegate.pipeline.gateway import Gateway, Handled, VerdictRun
from tidegate.pipeline.recorder import Recorder
from tidegate.security.tenancy import sees
from tidegate.store.base import StateStore
from tidegate.stream.emit import new_event
from tidegate.workers.timers import Timers

__all__ = ["EXPIRY_TIMERS", "NOTIFICATION_TIMERS", "Approvals", "DecisionResult"]

log = logging.getLogger(__name__)

#: Timer indexes (workers/timers.py): expiry at ``expires_at``; notification resends while unsent.
EXPIRY_TIMERS = "approval-expiry"
NOTIFICATION_TIMERS = "approval-notification"

_VERDICT = VerdictKind.REQUEST_APPROVAL.value


@dataclass(frozen=True, slots=True)
class DecisionResult:
    approval: Approval
    outcome: JsonObject | None  # the execution's REST body (api.md §3.3); None for a rejection

    def to_json(self) -> JsonObject:
        """The 200 body of POST approve / reject (api.md §7)."""
        decided_at = self.approval.decided_at
        return {
            "approval_id": self.approval.approval_id,
            "status": self.approval.status.value,
            "decided_at": None if decided_at is None else format_ts(decided_at),
            "decided_by": self.approval.decided_by,
            "outcome": self.outcome,
        }


class Approvals:
    def __init__(
        self,
        *,
        settings: ApprovalsSettings,
        store: StateStore,
        executor: Executor,
        timers: Timers,
        clock: Clock,
        base_url: str,
    ) -> None:
        """``base_url``: ``server.external_url`` (links are built under it)."""
        self._settings = settings
        self._store = store
        self._repo = ApprovalRepository(store, settings.retention_seconds)
        self._notifier = Notifier(executor)
        self._timers = timers
        self._clock = clock
        self._base_url = base_url
        self._keys: LinkKeys | None = None
        self._gateway: Gateway | None = None
        self._recorder: Recorder | None = None
        timers.register(EXPIRY_TIMERS, self._expire_due)
        timers.register(NOTIFICATION_TIMERS, self._renotify_due)

    async def start(self) -> None:
        """Load the signing keys (the generated one lives in the state store)."""
        self._keys = await load_link_keys(self._settings, self._store)

    def attach(self, gateway: Gateway, recorder: Recorder) -> None:
        """The pipeline approved actions re-enter, and the recorder of rejections and expiries; both are
        built after the verdict handlers they depend on."""
        self._gateway, self._recorder = gateway, recorder

    # -- the request_approval verdict ------------------------------------------------------------

    async def request(self, run: VerdictRun) -> Handled:
        """Hold the action (features.md §15 steps 1-6). Store failures before the notification answer
        503 with nothing sent; after it, they are logged (the action is held either way)."""
        params = run.verdict.params
        if not isinstance(params, ApprovalParams):
            raise TypeError("request_approval verdict without approval parameters")
        now = from_unix(run.now_ts)
        approval = Approval(
            approval_id=new_secret_id(),
            action=run.verdict.action,
            rule=run.verdict.matched_rule or "",
            message=params.message,
            created_at=now,
            expires_at=from_unix(int(run.now_ts) + params.timeout_seconds),
            requested_by=run.caller.caller_id,
            notify_provider=params.notify_provider,
            received_payload=run.received.payload,
            payload_modified=bool(run.verdict.modified_by),
        )
        ref = ApprovalRef.of(approval)
        await self._timers.arm(EXPIRY_TIMERS, _entity(ref), approval.expires_at)  # harmless if unused
        await self._repo.create(approval, now)
        approve_url, reject_url = self._urls(approval)
        sent = await self._notify(approval, approve_url, reject_url, now)
        event = new_event(
            EventType.APPROVAL_REQUIRED,
            namespace=approval.namespace,
            tenant=approval.tenant,
            fields={
                "approval_id": approval.approval_id,
                "rule": approval.rule,
                "expires_at": approval.expires_at,
            },
            now=self._clock.now(),
            action_type=approval.action.action_type,
            action_id=approval.action.id,
        )
        outcome = PendingApproval(approval.approval_id, approval.expires_at, approve_url, reject_url, sent)
        return Handled(outcome, before=[event])

    # -- signed and credentialed requests ----------------------------------------------------------

    async def view(self, ref: ApprovalRef, link: Link) -> Approval:
        """The signed status view: checks 1-2 only (an expired link still shows the status); a lapsed
        pending approval is marked expired first, so the status shown is current."""
        stored = await self._checked(ref, link, None)
        if gate(stored.approval, self._clock.now()) is Gate.LAPSED:
            await self._expire(ref, self._clock.now())
            stored = await self._load(ref)
        return stored.approval

    async def confirm(self, ref: ApprovalRef, link: Link) -> Approval:
        """The GET confirm page: every check of api.md §7 but the decision itself (GET never decides)."""
        stored = await self._checked(ref, link, None)
        return (await self._open(ref, stored, self._clock.now())).approval

    async def decide(
        self, ref: ApprovalRef, decision: Decision, *, link: Link | None, caller: Caller | None
    ) -> DecisionResult:
        """Decide once (api.md §7). With ``link`` the signature is the credential and ``caller`` is who
        else the request proved to be (or None); without it the decision is credentialed: ``caller``
        already holds ``dispatch``, and its grants must cover the approval (else 404, as if missing)."""
        now = self._clock.now()
        stored = await self._checked(ref, link, caller)
        decided_by = LINK if caller is None else caller.caller_id
        while True:
            stored = await self._open(ref, stored, now)
            decided = stored.approval.decided(decision, now, decided_by)
            if await self._repo.replace(stored, decided, now):
                break
            stored = await self._load(ref)  # another change won: re-check (a decision there is a 409)
        resolved = self._resolved_event(decided, decision.value)
        if decision is Decision.REJECT:
            await self._record(decided, "approval_rejected", caller or SYSTEM, now, resolved)
            return DecisionResult(decided, None)
        return DecisionResult(decided, await self._execute(ref, decided, resolved))

    async def listing(
        self, *, status: str, namespace: str | None, tenant: str | None, visible: Callable[[Approval], bool]
    ) -> list[Approval]:
        """GET /v1/approvals before paging: filtered, visible to the caller, newest first."""
        selected = [
            approval
            for approval in await self._repo.all()
            if (status == "all" or approval.status.value == status)
            and (namespace is None or approval.namespace == namespace)
            and (tenant is None or approval.tenant == tenant)
            and visible(approval)
        ]
        selected.sort(key=lambda approval: (approval.created_at, approval.approval_id), reverse=True)
        return selected

    # -- checks ----------------------------------------------------------------------------------

    async def _checked(self, ref: ApprovalRef, link: Link | None, caller: Caller | None) -> Stored:
        """Checks 1 (signature, no stored data needed) and 2 (record; a foreign one is missing too)."""
        if link is not None:
            if not self._link_keys.verify(ref.namespace, ref.tenant, ref.approval_id, link):
                raise InvalidSignature()
        elif caller is None:
            raise InvalidSignature()
        stored = await self._repo.load(ref)
        if stored is None or (
            link is None and caller is not None and not sees(caller, ref.tenant, ref.namespace)
        ):
            raise NotFound(f"approval not found: {ref.approval_id}")
        return stored

    async def _open(self, ref: ApprovalRef, stored: Stored, now: datetime) -> Stored:
        """Checks 3 (decided: 409; expired: 410) and 4 (lapsed: mark expired, then 410)."""
        while True:
            state = gate(stored.approval, now)
            if state is Gate.OPEN:
                return stored
            if state is Gate.DECIDED:
                raise ApprovalDecided(stored.approval.status.value)
            if state is Gate.EXPIRED:
                raise ApprovalExpired()
            await self._expire(ref, now)
            stored = await self._load(ref)

    async def _load(self, ref: ApprovalRef) -> Stored:
        stored = await self._repo.load(ref)
        if stored is None:  # deleted by retention meanwhile
            raise NotFound(f"approval not found: {ref.approval_id}")
        return stored

    # -- outcomes --------------------------------------------------------------------------------

    async def _execute(self, ref: ApprovalRef, decided: Approval, resolved: StreamEvent) -> JsonObject:
        """The rest of the pipeline for the approved action; a failure before any provider call reopens
        the approval (the decision did not take effect) and propagates."""
        if self._gateway is None:
            raise RuntimeError("approvals are not attached to a gateway")
        try:
            result = await self._gateway.resume(
                decided.action, received=decided.received, after_rule=decided.rule, before=[resolved]
            )
        except TidegateError:
            await self._reopen(ref, decided)
            raise
        body = result.body()
        try:
            await self._repo.update(
                ref, lambda current: _with_outcome(current, decided, body), self._clock.now()
            )
        except BackendUnavailable:
            log.error(
                "could not store an approved action's outcome", extra={"approval_id": decided.approval_id}
            )
        return body

    async def _reopen(self, ref: ApprovalRef, decided: Approval) -> None:
        def reopen(current: Approval) -> Approval | None:
            if current.status is not decided.status or current.decided_at != decided.decided_at:
                return None
            return dataclasses.replace(
                current, status=ApprovalStatus.PENDING, decided_at=None, decided_by=None
            )

        try:
            if await self._repo.update(ref, reopen, self._clock.now()) is not None:
                await self._timers.arm(EXPIRY_TIMERS, _entity(ref), decided.expires_at)
        except BackendUnavailable:
            log.error(
                "could not reopen an approval after a failed execution",
                extra={"approval_id": ref.approval_id},
            )

    async def _expire(self, ref: ApprovalRef, now: datetime) -> None:
        """Mark a lapsed pending approval expired; only the change that lands records and streams it."""

        def expire(current: Approval) -> Approval | None:
            return current.expired() if gate(current, now) is Gate.LAPSED else None

        expired = await self._repo.update(ref, expire, now)
        if expired is not None:
            event = self._resolved_event(expired, ApprovalStatus.EXPIRED.value)
            await self._record(expired, "approval_expired", SYSTEM, now, event)

    async def _record(
        self, approval: Approval, outcome: str, caller: Caller, now: datetime, event: StreamEvent
    ) -> None:
        if self._recorder is None:
            raise RuntimeError("approvals are not attached to a recorder")
        await self._recorder.record_resolution(
            action=approval.received,
            verdict=_VERDICT,
            matched_rule=approval.rule,
            outcome=outcome,
            details={"approval_id": approval.approval_id},
            caller=caller,
            dispatched_at=now,
            event=event,
        )

    def _resolved_event(self, approval: Approval, decision: str) -> StreamEvent:
        return new_event(
            EventType.APPROVAL_RESOLVED,
            namespace=approval.namespace,
            tenant=approval.tenant,
            fields={"approval_id": approval.approval_id, "decision": decision},
            now=self._clock.now(),
            action_type=approval.action.action_type,
            action_id=approval.action.id,
        )

    # -- notifications ---------------------------------------------------------------------------

    @property
    def _link_keys(self) -> LinkKeys:
        if self._keys is None:
            raise RuntimeError("approvals are not started (no signing keys)")
        return self._keys

    def _urls(self, approval: Approval) -> tuple[str, str]:
        return approval_urls(
            self._base_url,
            approval.namespace,
            approval.tenant,
            approval.approval_id,
            approval.expires_at_unix,
            self._link_keys,
        )

    async def _notify(self, approval: Approval, approve_url: str, reject_url: str, now: datetime) -> bool:
        """Send, then note the result: sent on the record, or a resend timer. Store failures after the
        provider call are logged, never raised (features.md §1: the dispatch completes)."""
        sent = await self._notifier.send(approval, approve_url, reject_url)
        ref = ApprovalRef.of(approval)
        try:
            if sent:
                await self._repo.update(ref, _mark_sent, now)
            else:
                retry_at = now + timedelta(seconds=self._settings.notification_retry_interval_seconds)
                await self._timers.arm(NOTIFICATION_TIMERS, _entity(ref), retry_at)
        except BackendUnavailable:
            log.error("could not note an approval notification", extra={"approval_id": approval.approval_id})
        return sent

    # -- timers (each fires once cluster-wide; both are idempotent) --------------------------------

    async def _expire_due(self, entity: str, due_at: datetime) -> None:
        await self._expire(_ref(entity), self._clock.now())

    async def _renotify_due(self, entity: str, due_at: datetime) -> None:
        """Resend while pending and unsent, with links signed by the current key."""
        stored = await self._repo.load(_ref(entity))
        now = self._clock.now()
        if stored is None or stored.approval.notification_sent or gate(stored.approval, now) is not Gate.OPEN:
            return
        approval = stored.approval
        await self._notify(approval, *self._urls(approval), now)


def _mark_sent(current: Approval) -> Approval | None:
    return None if current.notification_sent else dataclasses.replace(current, notification_sent=True)


def _with_outcome(current: Approval, decided: Approval, body: JsonObject) -> Approval | None:
    if current.status is not decided.status or current.decided_at != decided.decided_at:
        return None
    return dataclasses.replace(current, outcome=body)


def _entity(ref: ApprovalRef) -> str:
    """A timer member's entity: the approval's scope and id as a JSON array (no ``|`` can occur)."""
    return orjson.dumps([ref.namespace, ref.tenant, ref.approval_id]).decode()


def _ref(entity: str) -> ApprovalRef:
    namespace, tenant, approval_id = orjson.loads(entity)
    return ApprovalRef(str(namespace), str(tenant), str(approval_id))
