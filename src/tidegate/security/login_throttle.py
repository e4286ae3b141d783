"""The login limit (api.md §13): at most ``max_failures`` failed logins per username in a sliding window.

The failure times of one username are a ``SlidingLog`` in the StateStore, so the limit holds across
instances sharing the store. The key expires one window after the last failure, so state stays bounded
by the usernames tried recently. A refused login is not a failure: the limit lasts only until the oldest
failure leaves the window, and that time is the ``Retry-After``."""

from __future__ import annotations

from datetime import datetime

from tidegate.errors import RateLimited
from tidegate.security.counters import SlidingLog
from tidegate.security.rate_limit import Limit
from tidegate.security.rate_limit import log_retry_after as retry_after
from tidegate.security.rate_limit import recent as recent_failures
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["LoginThrottle", "recent_failures", "retry_after"]


class LoginThrottle:
    def __init__(self, store: StateStore, max_failures: int, window_seconds: int) -> None:
        self._failures = SlidingLog(store, Limit(max_failures, window_seconds), keys.login_failures)

    async def check(self, username: str, now: datetime) -> None:
        """Raise RateLimited (with ``Retry-After``) while the username is over the limit."""
        wait = await self._failures.retry_after(username, now.timestamp())
        if wait is not None:
            raise RateLimited("too many failed logins for this username; retry later", retry_after=wait)

    async def record_failure(self, username: str, now: datetime) -> None:
        await self._failures.record(username, now.timestamp())
