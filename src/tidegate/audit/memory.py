"""In-process AuditStore: records in ``(dispatched_at, id)`` order, indexed by id and by action id.

Built for the 25,000 dispatches/s target: ``append`` is a dict insert plus a list append (records arrive
in time order, so the sorted insert almost always lands at the end), with no task hop and no copy.
Queries walk the ``from``/``to`` slice found by bisection, newest first. Memory is bounded only by
retention: ``purge`` drops expired records. Records are lost when the process ends."""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right, insort
from datetime import datetime

from tidegate.audit.base import AuditPage, AuditQuery
from tidegate.audit.scope import in_scope
from tidegate.errors import BackendUnavailable
from tidegate.model.audit import AuditRecord
from tidegate.model.caller import Grant

__all__ = ["MemoryAuditStore"]

_FILTERS = (
    "namespace",
    "tenant",
    "provider",
    "action_type",
    "matched_rule",
    "caller_id",
    "chain_id",
    "outcome",
    "verdict",
)


def _order(record: AuditRecord) -> tuple[datetime, str]:
    return record.dispatched_at, record.id


def _dispatched_at(record: AuditRecord) -> datetime:
    return record.dispatched_at


class MemoryAuditStore:
    def __init__(self) -> None:
        self._records: list[AuditRecord] = []  # sorted by (dispatched_at, id)
        self._by_id: dict[str, AuditRecord] = {}
        self._by_action: dict[str, list[AuditRecord]] = {}
        self._closed = False

    async def open(self) -> None:
        self._closed = False

    def begin_append(self, record: AuditRecord) -> asyncio.Future[None]:
        """``append`` as a task (nothing to overlap here, but a subclass's ``append`` may wait), shielded
        so that cancelling the wait leaves the write to finish."""
        self._check_open()
        return asyncio.shield(self.append(record))

    async def append(self, record: AuditRecord) -> None:
        """Committed on return; appending a record id again is a no-op (spool replay is idempotent)."""
        self._check_open()
        if record.id in self._by_id:
            return
        self._by_id[record.id] = record
        self._by_action.setdefault(record.action_id, []).append(record)
        records = self._records
        last = records[-1] if records else None
        if last is None or last.dispatched_at < record.dispatched_at or _order(last) <= _order(record):
            records.append(record)  # the usual case: records arrive in time order
        else:
            insort(records, record, key=_order)

    async def query(self, query: AuditQuery) -> AuditPage:
        self._check_open()
        records = self._records
        lo = 0 if query.from_ is None else bisect_left(records, query.from_, key=_dispatched_at)
        hi = len(records) if query.to is None else bisect_right(records, query.to, key=_dispatched_at)
        wanted = [(name, getattr(query, name)) for name in _FILTERS if getattr(query, name) is not None]
        start, stop = query.offset, query.offset + query.limit
        scope = query.scope
        page: list[AuditRecord] = []
        total = 0
        for index in range(hi - 1, lo - 1, -1):
            record = records[index]
            if all(getattr(record, name) == value for name, value in wanted) and in_scope(record, scope):
                if start <= total < stop:
                    page.append(record)
                total += 1
        return AuditPage(page, total)

    async def get(self, action_id: str, scope: tuple[Grant, ...] | None = None) -> AuditRecord | None:
        self._check_open()
        found = [record for record in self._by_action.get(action_id, ()) if in_scope(record, scope)]
        return max(found, key=_order) if found else None

    async def purge(self, now: datetime, batch: int = 1000) -> int:
        """One pass over the records; ``batch`` only matters to stores that delete in transactions."""
        self._check_open()
        kept: list[AuditRecord] = []
        expired: list[AuditRecord] = []
        for record in self._records:
            (expired if record.expires_at is not None and record.expires_at <= now else kept).append(record)
        if not expired:
            return 0
        self._records = kept
        for record in expired:
            del self._by_id[record.id]
        for action_id in {record.action_id for record in expired}:
            left = [record for record in self._by_action[action_id] if record.id in self._by_id]
            if left:
                self._by_action[action_id] = left
            else:
                del self._by_action[action_id]
        return len(expired)

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise BackendUnavailable("audit store (memory) is closed")
