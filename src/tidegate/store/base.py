"""The StateStore contract: a few small atomic operations every stateful feature is built on.

Every backend (memory, sqlite, redis, postgres) implements exactly this protocol and passes the one
contract suite in ``tests/store/test_contract.py``. Values are opaque bytes (JSON by convention), keys
are built only by ``store/keys.py``. TTLs are seconds (``None`` = no expiry); an expired key behaves
exactly like an absent one for every operation. Every method is atomic across all instances sharing the
backend, and raises ``BackendUnavailable`` (never a driver error) when the backend does not answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["ScanPage", "StateStore", "Versioned", "scan_values"]


@dataclass(frozen=True, slots=True)
class Versioned:
    """A value with its row version; versions increase on every write of the key."""

    value: bytes
    version: int


@dataclass(frozen=True, slots=True)
class ScanPage:
    items: list[tuple[str, bytes]]
    cursor: str | None  # None when the scan is complete


class StateStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Write unconditionally (bumps the version)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the key; True if it existed."""
        ...

    async def put_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """First writer wins: True only for the one caller that created the key, across instances."""
        ...

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        """Compare-and-delete: remove the key only while it still holds ``value`` (releasing a claim)."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add ``amount`` and return the new value; ``ttl`` is set only when the key is created."""
        ...

    async def get_versioned(self, key: str) -> Versioned | None: ...

    async def compare_and_set(
        self, key: str, version: int | None, value: bytes, ttl: float | None = None
    ) -> bool:
        """Write only if the key is still at ``version`` (``None``: only if absent); retry on False."""
        ...

    async def scan(self, prefix: str, cursor: str | None = None, limit: int = 100) -> ScanPage:
        """Live keys starting with ``prefix``, in key order, a page at a time."""
        ...

    async def schedule(self, index: str, member: str, due_at: datetime) -> None:
        """Put ``member`` in the time index ``index`` (re-scheduling moves it)."""
        ...

    async def due(self, index: str, now: datetime, limit: int = 100) -> list[tuple[str, datetime]]:
        """Members with due_at <= now, oldest first. Does not remove them: callers claim, then unschedule."""
        ...

    async def unschedule(self, index: str, member: str) -> bool: ...

    async def sweep(self, now: datetime) -> int:
        """Delete expired keys (memory and SQLite; shared backends expire natively and return 0)."""
        ...

    async def ping(self) -> None:
        """Raise BackendUnavailable unless the backend answers."""
        ...

    async def close(self) -> None: ...


async def scan_values(store: StateStore, prefix: str, page_size: int = 500) -> AsyncIterator[bytes]:
    """Every live value under ``prefix``, in key order, read a page at a time."""
    cursor: str | None = None
    while True:
        page = await store.scan(prefix, cursor, page_size)
        for _, value in page.items:
            yield value
        cursor = page.cursor
        if cursor is None:
            return
