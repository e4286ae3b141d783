"""Approval records in the state store: create, read, compare-and-set, list (features.md §15, §20).

Every change is a compare-and-set on the record's version, so of concurrent changes (two decisions, a
decision and the expiry worker, on one instance or several) exactly one lands; the others re-read and
see what happened. Retention is the record's TTL: a pending record lives until its expiry plus the
retention, a decided or expired one for ``retention_seconds`` after the change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tidegate.approvals.record import Approval, ApprovalStatus
from tidegate.store import keys
from tidegate.store.base import StateStore, scan_values

__all__ = ["ApprovalRef", "ApprovalRepository", "Stored"]

_CAS_ATTEMPTS = 50
#: A retention of 0 still keeps a decided record this long, so a concurrent loser reads "decided"
#: (409) rather than "missing" (404).
_MIN_TTL = 1.0


@dataclass(frozen=True, slots=True)
class ApprovalRef:
    """How a request names an approval: its scope and id, as in the link's path."""

    namespace: str
    tenant: str
    approval_id: str

    @classmethod
    def of(cls, approval: Approval) -> ApprovalRef:
        return cls(approval.namespace, approval.tenant, approval.approval_id)

    @property
    def key(self) -> str:
        return keys.approval(self.namespace, self.tenant, self.approval_id)


@dataclass(frozen=True, slots=True)
class Stored:
    approval: Approval
    version: int


class ApprovalRepository:
    def __init__(self, store: StateStore, retention_seconds: float) -> None:
        self._store = store
        self._retention = max(retention_seconds, _MIN_TTL)

    async def create(self, approval: Approval, now: datetime) -> None:
        """Store a new record (ids are fresh UUIDv4s, so the key is new)."""
        ref = ApprovalRef.of(approval)
        await self._store.put(ref.key, approval.encode(), ttl=self._ttl(approval, now))

    async def load(self, ref: ApprovalRef) -> Stored | None:
        found = await self._store.get_versioned(ref.key)
        if found is None:
            return None
        return Stored(Approval.decode(found.value), found.version)

    async def replace(self, stored: Stored, new: Approval, now: datetime) -> bool:
        """Write ``new`` only if the record is still at ``stored.version``; False when another change won."""
        ref = ApprovalRef.of(new)
        return await self._store.compare_and_set(
            ref.key, stored.version, new.encode(), ttl=self._ttl(new, now)
        )

    async def update(
        self, ref: ApprovalRef, change: Callable[[Approval], Approval | None], now: datetime
    ) -> Approval | None:
        """Apply ``change`` to the current record until the write lands; ``change`` returning None (or a
        missing record) stops without writing. Returns what was written, or None."""
        for _ in range(_CAS_ATTEMPTS):
            stored = await self.load(ref)
            if stored is None:
                return None
            new = change(stored.approval)
            if new is None:
                return None
            if await self.replace(stored, new, now):
                return new
        raise RuntimeError("approval update kept conflicting")

    async def all(self) -> list[Approval]:
        """Every live record (bounded by retention), in key order."""
        return [Approval.decode(value) async for value in scan_values(self._store, keys.approvals_prefix())]

    def _ttl(self, approval: Approval, now: datetime) -> float:
        if approval.status is ApprovalStatus.PENDING:
            return max((approval.expires_at - now).total_seconds(), 0.0) + self._retention
        return self._retention
