"""How the record step writes a dispatch's audit record and events: side by side when the event log is
shared (each write waits for its own backend, a dispatch for the slower one), and in one PostgreSQL
transaction when the audit trail and the event log share a database. Either way a dispatch answers once
both are stored, and a failed write goes where it always went: the record to the audit spool, the
events to the event spool (or a 503 without one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.postgres.pg_support import drop_schema, postgres_url, unique_schema
from tests.postgres.tcp_proxy import TcpProxy
from tests.stream._events import make_event
from tests.stream.log_backends import FlakyLog
from tidegate.audit.memory import MemoryAuditStore
from tidegate.audit.postgres import PostgresAuditStore
from tidegate.audit.spool import AuditSpool
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.metrics import Metrics
from tidegate.model.action import Action
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import ANONYMOUS
from tidegate.model.event import EventType, StreamEvent
from tidegate.model.outcome import Suppressed
from tidegate.pipeline.joint import joint_write
from tidegate.pipeline.recorder import JointWrite, Recorder
from tidegate.postgres.names import TableNames
from tidegate.stream.log import EventLog, LocalEventLog
from tidegate.stream.postgres_log import PostgresEventLog
from tidegate.stream.spool import EventSpool

START = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)


def recorder(
    audit: MemoryAuditStore | PostgresAuditStore,
    log: EventLog,
    *,
    overlap: bool = True,
    joint: JointWrite | None = None,
    spool: AuditSpool | None = None,
    event_spool: EventSpool | None = None,
) -> Recorder:
    return Recorder(
        audit=audit,
        events=log,
        metrics=Metrics(),
        clock=ManualClock(START),
        redact=lambda payload: payload,
        store_payload=True,
        retention_days=30,
        spool=spool,
        event_spool=event_spool,
        overlap=overlap,
        joint=joint,
    )


async def record(target: Recorder, action_id: str) -> bool:
    """One dispatch's record step (a ``group_flushed`` before its ``action_dispatched``); True: spooled."""
    action = Action(
        id=action_id,
        namespace="notifications",
        tenant="acme",
        provider="email",
        action_type="send",
        payload={"to": "ops@example.com"},
        created_at=START,
    )
    return await target.record(
        action=action,
        provider="email",
        verdict="suppress",
        matched_rule="r",
        outcome=Suppressed("r"),
        caller=ANONYMOUS,
        dispatched_at=START,
        before=[make_event(action_id=action_id)],
    )


class GatedAudit(MemoryAuditStore):
    """An audit store whose append completes only once ``gate`` opens, or fails while ``down``."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate
        self.down = False

    async def append(self, record: AuditRecord) -> None:
        await self.gate.wait()
        if self.down:
            raise BackendUnavailable("audit store unavailable")
        await super().append(record)


class OpeningLog(FlakyLog):
    """A log whose append opens ``gate``: it has run while the audit write was still waiting."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate

    async def append(self, events: Sequence[StreamEvent]) -> None:
        self.gate.set()
        await super().append(events)


async def test_the_record_and_the_events_are_written_side_by_side() -> None:
    gate = asyncio.Event()
    audit, log = GatedAudit(gate), OpeningLog(gate)
    async with asyncio.timeout(5):  # written one after the other, the audit write would wait for ever
        assert await record(recorder(audit, log), "a-1") is False
    assert await audit.get("a-1") is not None
    assert [event.type for event in log.retained()] == [
        EventType.GROUP_FLUSHED,
        EventType.ACTION_DISPATCHED,
    ]


async def test_without_overlap_the_record_is_written_first() -> None:
    gate = asyncio.Event()
    audit, log = GatedAudit(gate), OpeningLog(gate)
    pending = asyncio.create_task(record(recorder(audit, log, overlap=False), "a-1"))
    await asyncio.sleep(0.05)
    assert not pending.done() and log.retained() == []  # the events wait for the record
    gate.set()
    assert await pending is False
    assert len(log.retained()) == 2


async def test_a_failed_audit_write_is_spooled_while_the_events_are_appended(tmp_path: Path) -> None:
    gate = asyncio.Event()
    audit, log = GatedAudit(gate), OpeningLog(gate)
    audit.down = True
    spool = AuditSpool(tmp_path / "audit-spool.jsonl")
    assert await record(recorder(audit, log, spool=spool), "a-1") is True
    assert not spool.is_empty() and len(log.retained()) == 2


async def test_a_refused_append_fails_the_dispatch_only_after_the_record_is_written() -> None:
    gate = asyncio.Event()
    audit, log = GatedAudit(gate), OpeningLog(gate)
    log.down = True
    gate.set()
    with pytest.raises(BackendUnavailable):
        await record(recorder(audit, log), "a-1")
    assert await audit.get("a-1") is not None


class SentFirstAudit(PostgresAuditStore):
    """A PostgreSQL audit store noting in ``order`` when its writer sends a batch."""

    def __init__(self, url: str, order: list[str], names: TableNames) -> None:
        super().__init__(url, names=names)
        self.order = order

    async def _write_batch(self, batch: list[Any]) -> None:
        self.order.append("audit commit sent")
        await super()._write_batch(batch)


class NotedLog(FlakyLog):
    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    async def append(self, events: Sequence[StreamEvent]) -> None:
        self.order.append("events sent")
        await super().append(events)


async def test_the_audit_commit_the_slower_write_goes_out_before_the_event_append() -> None:
    """A sequential dispatch waits for the later of the two replies: the commit, started first, ends
    sooner than if it queued behind the append's sending."""
    url, schema = postgres_url(), unique_schema()
    order: list[str] = []
    audit = SentFirstAudit(url, order, TableNames(schema=schema))
    await audit.open()
    try:
        assert await record(recorder(audit, NotedLog(order)), "a-1") is False
        assert order == ["audit commit sent", "events sent"]
        assert await audit.get("a-1") is not None
    finally:
        await audit.close()
        await drop_schema(url, schema)


async def test_a_cancelled_dispatch_stops_waiting_but_its_record_is_still_written() -> None:
    gate = asyncio.Event()
    audit, log = GatedAudit(gate), NotedLog([])
    pending = asyncio.create_task(record(recorder(audit, log), "a-1"))
    await asyncio.sleep(0.05)
    assert len(log.retained()) == 2 and not pending.done()  # events appended, the record still waits
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    gate.set()
    await asyncio.sleep(0.05)
    assert await audit.get("a-1") is not None


def test_no_joint_write_unless_both_are_postgres_on_one_database() -> None:
    url = "postgresql://tidegate@db.internal:5432/tidegate"
    events = PostgresEventLog(url, ManualClock(START).now)
    assert joint_write(MemoryAuditStore(), events) is None
    assert joint_write(PostgresAuditStore(url), LocalEventLog(10, 60, ManualClock(START).now)) is None
    assert joint_write(PostgresAuditStore(url.replace("5432", "5433")), events) is None
    assert joint_write(PostgresAuditStore(url), events) is not None


@dataclass
class Site:
    """An audit store and an event log in one fresh schema, reached through ``proxy``."""

    audit: PostgresAuditStore
    log: PostgresEventLog
    proxy: TcpProxy
    joint: JointWrite


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    url, schema = postgres_url(), unique_schema()
    proxy = TcpProxy(url)
    await proxy.start()
    names = TableNames(schema=schema)
    audit = PostgresAuditStore(proxy.url, names=names, operation_timeout=2.0)
    log = PostgresEventLog(proxy.url, ManualClock(START).now, names=names, poll_interval=0.05)
    try:
        await audit.open()
        await log.open()
        joint = joint_write(audit, log)
        assert joint is not None
        yield Site(audit, log, proxy, joint)
    finally:
        await log.close()
        await audit.close()
        await proxy.stop()
        await drop_schema(url, schema)


async def test_one_transaction_holds_the_record_and_its_events(site: Site) -> None:
    target = recorder(site.audit, site.log, joint=site.joint)
    assert await asyncio.gather(record(target, "a-1"), record(target, "a-2")) == [False, False]
    assert await record(target, "a-3") is False  # a batch of one record has a statement of its own
    assert site.audit.commits == 0  # not through the audit store's own group commit
    for action_id in ("a-1", "a-2", "a-3"):
        stored = await site.audit.get(action_id)
        assert stored is not None and stored.action_payload == {"to": "ops@example.com"}
    page = await site.log.read_after(None, 10)
    dispatched = [entry.event for entry in page.entries if entry.event.type == EventType.ACTION_DISPATCHED]
    assert sorted(event.action_id or "" for event in dispatched) == ["a-1", "a-2", "a-3"]
    for event in dispatched:  # the event and its record share one id (stream.md §1.3)
        stored = await site.audit.get(event.action_id or "")
        assert stored is not None and stored.id == event.id


async def test_when_the_transaction_fails_both_are_spooled(site: Site, tmp_path: Path) -> None:
    spool, event_spool = AuditSpool(tmp_path / "audit.jsonl"), EventSpool(tmp_path / "events.jsonl")
    target = recorder(site.audit, site.log, joint=site.joint, spool=spool, event_spool=event_spool)
    await site.proxy.stop()
    assert await record(target, "a-1") is True  # the record is in the audit spool: still a 200
    assert not spool.is_empty() and event_spool.holds_events
    await site.proxy.start()
    assert await spool.replay(site.audit) == 1
    assert await event_spool.replay(site.log) == 2
    assert await site.audit.get("a-1") is not None
    assert len((await site.log.read_after(None, 10)).entries) == 2


async def test_without_an_event_spool_a_failed_transaction_is_a_503(site: Site, tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path / "audit.jsonl")
    target = recorder(site.audit, site.log, joint=site.joint, spool=spool)
    await site.proxy.stop()
    with pytest.raises(BackendUnavailable):
        await record(target, "a-1")
    assert not spool.is_empty()  # the action took effect: its record is kept all the same
