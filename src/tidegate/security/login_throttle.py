"""The login limit (api.md §13): at most ``max_failures`` failed logins per username in a sliding window.

The failure times of one username are one StateStore value, updated with compare-and-set, so the limit
holds across instances sharing the store. The key expires one window after the last failure, so state
stays bounded by the usernames tried recently. A refused login is not a failure: the limit lasts only
until the oldest failure leaves the window, and that time is the ``Retry-After``."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime

import orjson

from tidegate.errors import RateLimited
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["LoginThrottle", "recent_failures", "retry_after"]

log = logging.getLogger(__name__)

#: Compare-and-set rounds before a failure is given up (only under heavy contention on one username).
_CAS_ATTEMPTS = 16


def recent_failures(failures: Sequence[float], now: float, window: float) -> list[float]:
    """The failure times still inside the window ending at ``now``, oldest first."""
    return sorted(t for t in failures if now - window < t <= now)


def retry_after(failures: Sequence[float], now: float, window: float, max_failures: int) -> int | None:
    """Seconds until a login may be tried again (at least 1), or None when it may be tried now."""
    recent = recent_failures(failures, now, window)
    if len(recent) < max_failures:
        return None
    frees_at = recent[len(recent) - max_failures] + window  # when enough old failures have left
    return max(1, math.ceil(frees_at - now))


def _decode(raw: bytes | None) -> list[float]:
    if raw is None:
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [float(t) for t in value if isinstance(t, int | float)] if isinstance(value, list) else []


class LoginThrottle:
    def __init__(self, store: StateStore, max_failures: int, window_seconds: int) -> None:
        self._store = store
        self._max = max_failures
        self._window = window_seconds

    async def check(self, username: str, now: datetime) -> None:
        """Raise RateLimited (with ``Retry-After``) while the username is over the limit."""
        failures = _decode(await self._store.get(keys.login_failures(username)))
        wait = retry_after(failures, now.timestamp(), self._window, self._max)
        if wait is not None:
            raise RateLimited("too many failed logins for this username; retry later", retry_after=wait)

    async def record_failure(self, username: str, now: datetime) -> None:
        key = keys.login_failures(username)
        moment = now.timestamp()
        for _ in range(_CAS_ATTEMPTS):
            current = await self._store.get_versioned(key)
            failures = _decode(None if current is None else current.value)
            recent = recent_failures(failures, moment, self._window)
            kept = recent[max(0, len(recent) - self._max + 1) :]  # with the new one: at most max
            value = orjson.dumps([*kept, moment])
            version = None if current is None else current.version
            if await self._store.compare_and_set(key, version, value, ttl=self._window):
                return
        log.warning("login throttle: could not record a failed login (contention on one username)")
