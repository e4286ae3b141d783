"""The record step of the pipeline: audit record and stream events, then counters, in one place.

A dispatch answers only after its record is committed and its events appended (group commit keeps that
cheap). With a shared event log the two writes run side by side (``overlap``: each waits for a round
trip to its own backend, so a dispatch waits for the slower, not the sum, and the audit commit, the
slower, is sent first; a subscriber may see an event a moment before its record can be read, never a 200
without both), or, when both live in one PostgreSQL database, in one statement (``joint``: one commit
for both). If the audit store fails *after* a provider was called, the action has taken effect: the
record goes to the spool and the dispatch still answers 200 (features.md §11 "Write failures"). Stream
events get the same treatment: an append the event log refuses goes to the event spool, in order, and is
appended once the log answers; without a spool the failure propagates (503), so a 200 never hides a lost
event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from tidegate.audit.base import AuditStore
from tidegate.audit.spool import AuditSpool
from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable
from tidegate.metrics import Metrics
from tidegate.model.action import Action
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import Caller
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.ids import new_id
from tidegate.model.json import JsonObject, JsonValue
from tidegate.model.outcome import Outcome, audit_details, stream_outcome
from tidegate.stream.log import EventLog
from tidegate.stream.spool import EventSpool

__all__ = ["JointWrite", "Recorder"]

#: Writes an audit record and its events in one transaction (both committed, or neither).
JointWrite = Callable[[AuditRecord, Sequence[StreamEvent]], Awaitable[None]]

log = logging.getLogger(__name__)


class Recorder:
    def __init__(
        self,
        *,
        audit: AuditStore | None,
        events: EventLog,
        metrics: Metrics,
        clock: Clock,
        redact: Callable[[JsonValue], JsonValue],
        store_payload: bool,
        retention_days: int,
        spool: AuditSpool | None,
        event_spool: EventSpool | None = None,
        overlap: bool = False,
        joint: JointWrite | None = None,
    ) -> None:
        """``overlap``: write the audit record and the events concurrently (for a shared event log, whose
        append is a round trip of its own). ``joint``: write both in one transaction instead."""
        self._overlap = overlap
        self._joint = joint
        self._audit = audit
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._redact = redact
        self._store_payload = store_payload
        self._retention = timedelta(days=retention_days) if retention_days else None
        self._spool = spool
        self._event_spool = event_spool
        self._audit_suspect = False

    async def ensure_ready(self) -> None:
        """Refuse to execute while the audit store is known to be failing (503, nothing executed).

        Only pinged after a failed write, so the healthy hot path costs nothing."""
        if self._audit is None or not self._audit_suspect:
            return
        await self._audit.ping()
        self._audit_suspect = False

    def count_dry_run(self) -> None:
        self._metrics.record_dry_run()

    async def record(
        self,
        *,
        action: Action,
        provider: str,
        verdict: str,
        matched_rule: str | None,
        outcome: Outcome,
        caller: Caller,
        dispatched_at: datetime,
        before: Sequence[StreamEvent] = (),
        chain_id: str | None = None,
    ) -> bool:
        """Audit, then stream (``before`` events precede ``action_dispatched``), then count.

        ``action`` is the action as received (the audit keeps the payload before any modify patch).
        Returns True when the audit record had to be spooled."""
        completed_at = self._clock.now()
        record_id = new_id()
        record = None
        if self._audit is not None:
            record = self._audit_record(
                record_id,
                action,
                provider,
                verdict,
                matched_rule,
                outcome.category,
                audit_details(outcome),
                caller,
                dispatched_at,
                completed_at,
                chain_id,
            )
        event = StreamEvent(
            id=record_id,
            timestamp=completed_at,
            type=EventType.ACTION_DISPATCHED,
            namespace=action.namespace,
            tenant=action.tenant,
            fields={"outcome": stream_outcome(outcome), "provider": provider},
            action_type=action.action_type,
            action_id=action.id,
        )
        spooled = await self._write_both(record, [*before, event])
        for emitted in (*before, event):
            self._metrics.record_event(emitted.type.value)
        self._metrics.record_outcome(outcome.category)
        return spooled

    async def record_resolution(
        self,
        *,
        action: Action,
        verdict: str,
        matched_rule: str | None,
        outcome: str,
        details: JsonObject,
        caller: Caller,
        dispatched_at: datetime,
        event: StreamEvent,
    ) -> None:
        """The audit record of an outcome that is no pipeline run (an approval rejected or expired,
        api.md §5.1), sharing its id with the ``event`` reporting it, then that event. No outcome counter
        moves (features.md §12: ``dispatched`` stays the sum of the pipeline outcomes)."""
        if self._audit is not None:
            record = self._audit_record(
                event.id,
                action,
                action.provider,
                verdict,
                matched_rule,
                outcome,
                details,
                caller,
                dispatched_at,
                self._clock.now(),
                None,
            )
            await self._write(self._audit, record)
        await self.emit([event])

    async def record_audit(
        self,
        *,
        action: Action,
        verdict: str,
        matched_rule: str | None,
        outcome: Outcome,
        caller: Caller,
        dispatched_at: datetime,
        chain_id: str | None,
    ) -> None:
        """Only the audit record of an execution that is no pipeline run: one chain step attempt
        (features.md §16 step 2). Its progress reaches the stream as chain events, so no
        ``action_dispatched`` is emitted and no outcome counter moves."""
        if self._audit is None:
            return
        record = self._audit_record(
            new_id(),
            action,
            action.provider,
            verdict,
            matched_rule,
            outcome.category,
            audit_details(outcome),
            caller,
            dispatched_at,
            self._clock.now(),
            chain_id,
        )
        await self._write(self._audit, record)

    async def emit(self, events: Sequence[StreamEvent]) -> None:
        """Append events that belong to no dispatch (a group flush, a timeout), in order, and count them.

        An append the event log refuses is spooled, exactly like a dispatch's events."""
        await self._append_events(list(events))
        for event in events:
            self._metrics.record_event(event.type.value)

    async def _write_both(self, record: AuditRecord | None, events: list[StreamEvent]) -> bool:
        """The record (when audited), then the events, as ``overlap`` and ``joint`` allow; returns True
        when the record was spooled. Raises like ``_append_events`` once both writes have ended."""
        audit = self._audit
        if record is None or audit is None:
            await self._append_events(events)
            return False
        spool = self._event_spool
        if self._joint is not None and not (spool is not None and spool.holds_events):
            return await self._write_joint(self._joint, record, events)
        if not self._overlap:
            spooled = await self._write(audit, record)
            await self._append_events(events)
            return spooled
        # The audit commit, the slower write, goes out first: queued now, sent by its writer during the
        # one suspension below, before this task sends the append (the faster) and waits for both.
        try:
            committing: asyncio.Future[None] | None = audit.begin_append(record)
        except BackendUnavailable:
            committing = None
        try:
            await asyncio.sleep(0)
            await self._append_events(events)
        except BackendUnavailable:
            await self._settle(committing, record)  # a refused append answers 503 once the record is stored
            raise
        except BaseException:
            if committing is not None:
                committing.cancel()  # a cancelled dispatch stops waiting; the queued record is still written
            raise
        return await self._settle(committing, record)

    async def _settle(self, committing: asyncio.Future[None] | None, record: AuditRecord) -> bool:
        """Wait for a begun audit write; True when the store refused it and the spool took the record."""
        if committing is not None:
            try:
                await committing
            except BackendUnavailable:
                pass
            else:
                return False
        return await self._spool_record(record)

    async def _write_joint(self, joint: JointWrite, record: AuditRecord, events: list[StreamEvent]) -> bool:
        """One transaction for both; when it fails, each goes where its own failed write would."""
        try:
            await joint(record, events)
        except BackendUnavailable:
            if self._audit is None:  # not reached: a joint write is only given with an audit store
                raise
            spooled = await self._spool_record(record)
            spool = self._event_spool
            if spool is None:
                raise
            await spool.add(events)
            log.error("event log append failed; events spooled", extra={"event_id": events[-1].id})
            return spooled
        return False

    async def _append_events(self, events: list[StreamEvent]) -> None:
        """Append to the event log, or spool when it fails (or while older events wait in the spool)."""
        spool = self._event_spool
        if spool is not None and spool.holds_events:
            await spool.add(events)
            return
        try:
            await self._events.append(events)
        except BackendUnavailable:
            if spool is None:
                raise
            await spool.add(events)
            log.error("event log append failed; events spooled", extra={"event_id": events[-1].id})

    async def _write(self, audit: AuditStore, record: AuditRecord) -> bool:
        try:
            await audit.append(record)
        except BackendUnavailable:
            return await self._spool_record(record)
        return False

    async def _spool_record(self, record: AuditRecord) -> bool:
        """After a failed audit write: the spool takes the record (True), or it is lost and logged."""
        self._audit_suspect = True
        if self._spool is None:
            log.error(
                "audit write failed and no spool is configured; record lost",
                extra={"action_id": record.action_id, "tenant": record.tenant},
            )
            return False
        await asyncio.to_thread(self._spool.append, record)
        log.error("audit write failed; record spooled", extra={"action_id": record.action_id})
        return True

    def _audit_record(
        self,
        record_id: str,
        action: Action,
        provider: str,
        verdict: str,
        matched_rule: str | None,
        outcome: str,
        details: JsonObject,
        caller: Caller,
        dispatched_at: datetime,
        completed_at: datetime,
        chain_id: str | None,
    ) -> AuditRecord:
        payload = self._redact(action.payload) if self._store_payload else None
        return AuditRecord(
            id=record_id,
            action_id=action.id,
            chain_id=chain_id,
            namespace=action.namespace,
            tenant=action.tenant,
            provider=provider,
            action_type=action.action_type,
            verdict=verdict,
            matched_rule=matched_rule,
            outcome=outcome,
            outcome_details=details,
            action_payload=payload,
            metadata=dict(action.metadata),
            dedup_key=action.dedup_key,
            fingerprint=action.fingerprint,
            status=action.status,
            starts_at=action.starts_at,
            ends_at=action.ends_at,
            trace_context=dict(action.trace_context),
            caller_id=caller.caller_id,
            auth_method=caller.auth_method.value,
            dispatched_at=dispatched_at,
            completed_at=completed_at,
            expires_at=dispatched_at + self._retention if self._retention else None,
        )
