"""The AuditStore contract: append-only records, queried by the filters of api.md §5.2.

``append`` returns only once the record is durably committed (group commit batches concurrent appends
into one transaction). Backends raise ``BackendUnavailable`` when the store does not answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tidegate.model.audit import AuditRecord
from tidegate.model.caller import Grant

__all__ = ["AuditPage", "AuditQuery", "AuditStore"]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Exact-match filters (None = any), inclusive ``dispatched_at`` bounds, and paging.

    ``scope`` restricts the records to those whose (tenant, namespace) one of its grants covers (G4,
    ``audit/scope.py``); None means every record. ``total`` counts only records in scope."""

    namespace: str | None = None
    tenant: str | None = None
    provider: str | None = None
    action_type: str | None = None
    matched_rule: str | None = None
    caller_id: str | None = None
    chain_id: str | None = None
    outcome: str | None = None
    verdict: str | None = None
    from_: datetime | None = None
    to: datetime | None = None
    limit: int = 50
    offset: int = 0
    scope: tuple[Grant, ...] | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[AuditRecord]
    total: int


class AuditStore(Protocol):
    async def open(self) -> None:
        """Create schema if needed and start the group-commit writer."""
        ...

    async def append(self, record: AuditRecord) -> None:
        """Return after the record is committed; concurrent calls share one transaction."""
        ...

    def begin_append(self, record: AuditRecord) -> asyncio.Future[None]:
        """``append`` started now: the write is under way before the caller's next suspension, and the
        future ends as ``append`` would. Lets a caller overlap another round trip with the commit while
        the commit, the slower, goes out first. Cancelling the future abandons the wait, not the write."""
        ...

    async def query(self, query: AuditQuery) -> AuditPage:
        """Newest first (``dispatched_at`` desc, then ``id`` desc); ``total`` ignores limit/offset."""
        ...

    async def get(self, action_id: str, scope: tuple[Grant, ...] | None = None) -> AuditRecord | None:
        """The newest record for the action id among those in ``scope`` (None: all records)."""
        ...

    async def purge(self, now: datetime, batch: int = 1000) -> int:
        """Delete records whose ``expires_at`` <= now, in batches; returns how many were deleted."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None:
        """Flush pending appends, then release the connection."""
        ...
