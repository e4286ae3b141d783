"""Result types the SDK adds around the server's models: pages, approval decisions, group flushes.

Every item inside is the server's own type (``tidegate.model`` or an ``api/*_schemas.py`` wire model);
these only hold them together, with embedded dispatch bodies read as ``DispatchResult``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from tidegate.client._outcomes import DispatchResult

__all__ = ["ApprovalDecision", "GroupFlush", "Page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list endpoint (README "Pagination"); ``total`` counts what the caller may see."""

    items: list[T]
    count: int
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last one."""
        following = self.offset + self.count
        return following if self.count and following < self.total else None


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """The answer of an approve or reject (api.md §7): ``outcome`` is the approved action's dispatch."""

    approval_id: str
    status: Literal["approved", "rejected"]
    decided_at: datetime
    decided_by: str
    outcome: DispatchResult | None


@dataclass(frozen=True, slots=True)
class GroupFlush:
    """``DELETE /v1/groups/{key}`` (api.md §8): ``notification`` is the group notification's dispatch."""

    group_id: str
    group_key: str
    event_count: int
    status: Literal["flushed", "closed"]
    notified: bool
    notification: DispatchResult | None
