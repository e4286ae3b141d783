"""A dispatch's audit record and its events in one PostgreSQL transaction, when both live in one database.

Then one commit (one durable-write wait) covers both instead of two in a row, and a record is visible
exactly when its events are. Anything else (other backends, two databases) gets None and the Recorder
writes the two separately."""

from __future__ import annotations

from collections.abc import Sequence

from tidegate.audit.base import AuditStore
from tidegate.audit.postgres import PostgresAuditStore
from tidegate.model.audit import AuditRecord
from tidegate.model.event import StreamEvent
from tidegate.pipeline.recorder import JointWrite
from tidegate.stream.log import EventLog
from tidegate.stream.postgres_log import PostgresEventLog

__all__ = ["joint_write"]


def joint_write(audit: AuditStore | None, events: EventLog) -> JointWrite | None:
    """The joint write of ``audit`` and ``events``, or None when they do not share a database (URL)."""
    if not isinstance(audit, PostgresAuditStore) or not isinstance(events, PostgresEventLog):
        return None
    if not events.accompany(audit.database_url, audit.insert_sql):
        return None
    log, row = events, audit.row

    async def write(record: AuditRecord, batch: Sequence[StreamEvent]) -> None:
        await log.append_with(batch, row(record))

    return write
