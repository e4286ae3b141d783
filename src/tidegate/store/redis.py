"""Redis StateStore: one hash per key, every multi-step operation one Lua script (``redis_scripts``).

Shared by any number of processes and hosts (features.md §20). Expiry follows the injected Clock, like the
memory and SQLite backends; Redis expires the hashes natively a grace period later, so ``sweep`` deletes
nothing (it only prunes the scan index). Every call is bounded by ``operation_timeout``; a refused
connection, a timeout or any Redis error becomes ``BackendUnavailable`` at once. Commands are never
retried by the client, since a retried script could apply twice (an ``incr`` counted twice, a claim lost
by its own winner); a pooled connection the server closed is detected and replaced when it is next taken
from the pool, so the store recovers by itself once Redis answers again."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tidegate.clock import Clock
from tidegate.errors import BackendUnavailable, TidegateError
from tidegate.model.time import from_micros, to_micros
from tidegate.store import redis_scripts as lua
from tidegate.store.base import ScanPage, Versioned
from tidegate.store.redis_pool import new_redis_pool

__all__ = ["RedisStateStore"]

_T = TypeVar("_T")
_Script = Callable[..., Awaitable[Any]]
_ScoredRows = list[tuple[bytes, float]]

#: Lua numbers are doubles: counters and amounts stay below this magnitude.
_EXACT_LIMIT = 2**53
#: Index members a single scan script reads at most beyond the page it needs (bounds its run time).
_SCAN_SLACK = 128
#: Deadlines ``sweep`` prunes per script call, and calls per sweep.
_PRUNE_BATCH, _PRUNE_ROUNDS = 1000, 100


class RedisStateStore:
    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        key_prefix: str = "tidegate",
        pool_size: int = 10,
        operation_timeout: float = 2.0,
        expiry_grace: float = 1.0,
    ) -> None:
        """``expiry_grace``: how long after its logical expiry Redis drops a key natively; it absorbs the
        latency between reading the clock and the write landing, and small clock skew between hosts."""
        self._clock = clock
        self._timeout = operation_timeout
        self._grace_ms = max(0, math.ceil(expiry_grace * 1000))
        self._closed = False
        base = f"{key_prefix}:state:"
        self.key_prefix = key_prefix
        self._hash_prefix = f"{base}k:"
        self._version_key = f"{base}version"
        self._index_key = f"{base}keys"
        self._ttl_key = f"{base}ttl"
        self._due_prefix = f"{base}due:"
        self._pool = new_redis_pool(
            url, size=pool_size, timeout=operation_timeout, client_name="tidegate-state"
        )
        self._client = Redis(connection_pool=self._pool)
        register = self._client.register_script
        self._put = register(lua.PUT)
        self._put_if_absent = register(lua.PUT_IF_ABSENT)
        self._cas = register(lua.COMPARE_AND_SET)
        self._delete = register(lua.DELETE)
        self._delete_if_equals = register(lua.DELETE_IF_EQUALS)
        self._incr = register(lua.INCR)
        self._scan = register(lua.SCAN)
        self._prune = register(lua.PRUNE)

    async def open(self) -> None:
        """Check that Redis answers (raises BackendUnavailable otherwise); connections open lazily."""
        self._closed = False
        await self.ping()

    async def get(self, key: str) -> bytes | None:
        found = await self._fields(key)
        return None if found is None else found.value

    async def put(self, key: str, value: bytes, ttl: float | None = None) -> None:
        now_us = self._now_us()
        await self._write_script(self._put, key, now_us, value, *self._expiry(ttl, now_us))

    async def delete(self, key: str) -> bool:
        return bool(await self._write_script(self._delete, key, self._now_us()))

    async def put_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now_us = self._now_us()
        return bool(
            await self._write_script(self._put_if_absent, key, now_us, value, *self._expiry(ttl, now_us))
        )

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return bool(await self._write_script(self._delete_if_equals, key, self._now_us(), value))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if abs(amount) >= _EXACT_LIMIT:
            raise TidegateError(f"incr: the amount for key {key!r} is out of range")
        try:
            now_us = self._now_us()
            total = await self._write_script(self._incr, key, now_us, str(amount), *self._expiry(ttl, now_us))
        except ResponseError as exc:  # one of the script's own refusals (see _call)
            if lua.NOT_INTEGER in str(exc):
                raise TidegateError(f"incr: the value at key {key!r} is not an integer") from exc
            raise TidegateError(f"incr: the counter at key {key!r} is out of range") from exc
        return int(total)

    async def get_versioned(self, key: str) -> Versioned | None:
        return await self._fields(key)

    async def compare_and_set(
        self, key: str, version: int | None, value: bytes, ttl: float | None = None
    ) -> bool:
        if version is None:
            return await self.put_if_absent(key, value, ttl)
        now_us = self._now_us()
        expiry = self._expiry(ttl, now_us)
        return bool(await self._write_script(self._cas, key, now_us, str(version), value, *expiry))

    async def scan(self, prefix: str, cursor: str | None = None, limit: int = 100) -> ScanPage:
        """Pages through the key index; each script call reads a bounded slice, so one scan may take a few
        round trips when it meets many expired keys, but never blocks Redis for long."""
        limit = max(1, limit)
        low = prefix.encode()
        start = b"(" + cursor.encode() if cursor is not None and cursor.encode() >= low else b"[" + low
        upper = _upper_bound(low)
        stop = b"+" if upper is None else b"(" + upper
        now = str(self._now_us())
        items: list[tuple[str, bytes]] = []
        while len(items) <= limit:
            want = limit + 1 - len(items)
            args: list[str | bytes | int] = [self._hash_prefix, now, start, stop, want, want + _SCAN_SLACK]
            reply = await self._call(partial(self._scan, keys=[self._index_key, self._ttl_key], args=args))
            pairs = reply[2:]
            items.extend((_text(pairs[i]), pairs[i + 1]) for i in range(0, len(pairs), 2))
            if int(reply[0]) == 1:
                break
            start = b"(" + reply[1]
        page = items[:limit]
        return ScanPage(page, page[-1][0] if len(items) > limit else None)

    async def schedule(self, index: str, member: str, due_at: datetime) -> None:
        due_key = self._due_prefix + index
        await self._call(lambda: self._client.zadd(due_key, {member: to_micros(due_at)}))

    async def due(self, index: str, now: datetime, limit: int = 100) -> list[tuple[str, datetime]]:
        due_key, now_us, count = self._due_prefix + index, to_micros(now), max(0, limit)
        rows = await self._call(
            lambda: self._client.zrangebyscore(due_key, "-inf", now_us, start=0, num=count, withscores=True)
        )
        return [(_text(member), from_micros(int(score))) for member, score in cast(_ScoredRows, rows)]

    async def unschedule(self, index: str, member: str) -> bool:
        due_key = self._due_prefix + index
        return bool(await self._call(lambda: self._client.zrem(due_key, member)))

    async def sweep(self, now: datetime) -> int:
        """Redis expires keys natively: nothing to delete. Prunes the scan index of keys already gone."""
        prune = partial(
            self._prune, keys=[self._index_key, self._ttl_key], args=[self._hash_prefix, _PRUNE_BATCH]
        )
        for _ in range(_PRUNE_ROUNDS):
            if int(await self._call(prune)) < _PRUNE_BATCH:
                break
        return 0

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def close(self) -> None:
        """Disconnect the pool; later calls raise BackendUnavailable until ``open`` is called again."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RedisError, OSError):  # the connections are dropped either way
            await self._pool.disconnect()

    async def _fields(self, key: str) -> Versioned | None:
        """The value and version of a live key (one HMGET: atomic, no script needed)."""
        hash_key = self._hash_prefix + key
        value, version, expires = await self._call(lambda: self._client.hmget(hash_key, "d", "v", "e"))
        if not isinstance(value, bytes) or version is None:
            return None
        if expires is not None and int(expires) <= self._now_us():
            return None
        return Versioned(value, int(version))

    async def _write_script(self, script: _Script, key: str, now_us: int, *extra: str | bytes) -> Any:
        """Run a write script on ``key`` (its KEYS and leading ARGV are the same for every one)."""
        keys = [self._hash_prefix + key, self._version_key, self._index_key, self._ttl_key]
        args = [key, str(now_us), self._hash_prefix, *extra]
        return await self._call(partial(script, keys=keys, args=args))

    def _expiry(self, ttl: float | None, now_us: int) -> tuple[str, str]:
        """(logical expiry in app-clock µs, native PEXPIRE ms) as script arguments; ('', '') = none."""
        if ttl is None:
            return "", ""
        native_ms = max(1, math.ceil(ttl * 1000) + self._grace_ms)
        return str(now_us + round(ttl * 1_000_000)), str(native_ms)

    async def _call(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run one Redis call within the operation timeout. A script's own error reply (ResponseError
        carrying a ``redis_scripts`` marker) passes through for the caller to translate."""
        if self._closed:
            raise BackendUnavailable("state store (redis) is closed")
        try:
            async with asyncio.timeout(self._timeout):
                return await operation()
        except ResponseError as exc:
            if lua.NOT_INTEGER in str(exc) or lua.OUT_OF_RANGE in str(exc):
                raise
            raise self._unavailable(exc) from exc
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc

    def _now_us(self) -> int:
        return to_micros(self._clock.now())

    @staticmethod
    def _unavailable(exc: BaseException) -> BackendUnavailable:
        timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
        reason = "timed out" if timed_out else f"{type(exc).__name__}: {exc}"
        return BackendUnavailable(f"state store (redis) did not answer ({reason})")


def _upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every one starting with ``prefix`` (None: there is none)."""
    text = prefix.rstrip(b"\xff")
    if not text:
        return None
    return text[:-1] + bytes([text[-1] + 1])


def _text(raw: bytes) -> str:
    """A key or member as stored: the UTF-8 of the caller's string."""
    return raw.decode()
