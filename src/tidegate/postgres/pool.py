"""A bounded asyncpg pool: every call ends within its timeout, and fails only with a Tidegate error.

``run`` acquires a connection and runs one operation on it, all inside one ``asyncio.timeout``: a
server that is down (connection refused), unreachable (connect timeout), slow or out of free connections
(pool exhausted) turns into ``BackendUnavailable`` within ``timeout`` seconds, never a hang or a raw
driver error. A connection interrupted by a timeout or a cancellation is terminated, not returned, so no
half-finished protocol state is reused. The pool holds no connection it cannot replace: a dead one is
dropped and the next ``acquire`` connects afresh, so calls succeed again as soon as the server is back.

An operation marked ``idempotent`` is retried on a fresh connection when its connection turns out to be
dead (the server was restarted, or an administrator terminated it): the retry cannot apply it twice.
Others are not retried, because a lost connection may have lost the answer of a statement that committed.

Connections carry no session state (no ``SET``, no ``LISTEN``, no open transaction on release), so the
pool skips asyncpg's per-release ``RESET ALL`` round trip. A connection an operation is done with is
kept at hand (``_ready``, newest last) for the next one instead of going back through asyncpg's
acquire and release, which cost more CPU than a short statement's round trip; it goes back to asyncpg
when a caller waits there for a connection, when it is closed or left inside a transaction, when it
has been idle for ``_IDLE_SECONDS`` (a timer), and on ``close``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from time import monotonic
from typing import TypeAlias, TypeVar
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from tidegate.errors import BackendUnavailable, TidegateError

__all__ = ["Connection", "PgPool", "describe_url"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"  # not subscriptable at runtime

#: Errors that mean the connection (or the server) is gone, not that the statement was refused.
_LOST: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # 57P01 terminated by an administrator, 57P03 starting up
    asyncpg.exceptions.InternalClientError,
)
#: Errors that mean the statement was refused for its input: the caller's bug, not an outage.
_REFUSED: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    ValueError,  # asyncpg could not encode an argument
)
_UNAVAILABLE: tuple[type[BaseException], ...] = (*_LOST, asyncpg.PostgresError, TimeoutError)
#: A connection kept at hand this long without use goes back to asyncpg, whose idle limit then applies.
_IDLE_SECONDS = 60.0


def describe_url(url: str) -> str:
    """``postgres host:port/db`` without user or password, for messages that clients may see."""
    try:
        parts = urlsplit(url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    except ValueError:
        where = "?"
    return f"postgres {where}"


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Release hook: asyncpg has already rolled back any open transaction; nothing else to reset."""


class PgPool:
    def __init__(self, url: str, *, size: int, timeout: float, role: str) -> None:
        """``role`` names the pool's user in messages (``state store``, ``audit store``)."""
        self._url = url
        self._size = max(1, size)
        self._timeout = timeout
        self._what = f"{role} ({describe_url(url)})"
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._ready: list[tuple[Connection, float]] = []  # kept at hand: (connection, idle since)
        self._waiting = 0  # callers waiting in asyncpg's acquire
        self._sweep: asyncio.TimerHandle | None = None  # hands idle kept connections back
        self._sweeping: set[asyncio.Task[None]] = set()

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @property
    def timeout(self) -> float:
        return self._timeout

    async def open(self) -> None:
        """Create the pool; connections are made on first use (``run`` reports a server that is down)."""
        if self._pool is not None:
            return
        try:
            pool = asyncpg.create_pool(
                self._url,
                min_size=0,
                max_size=self._size,
                timeout=self._timeout,  # connect timeout
                reset=_keep_session,
                max_inactive_connection_lifetime=_IDLE_SECONDS,
                server_settings={
                    "application_name": "tidegate",
                    # The server gives up when the client does: a statement stuck behind a lock must not
                    # land later, after its caller was told it failed.
                    "statement_timeout": str(math.ceil(self._timeout * 1000)),
                },
            )
            async with asyncio.timeout(self._timeout):
                self._pool = await pool
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise self.unavailable(exc) from exc

    async def run(
        self,
        operation: Callable[[Connection], Awaitable[T]],
        *,
        idempotent: bool = False,
        refused: str | None = None,
        time_limit: float | None = None,
    ) -> T:
        """Run ``operation`` on a pooled connection within ``time_limit`` (default: the pool's timeout).

        Raises ``BackendUnavailable`` when the server does not answer in time, and ``TidegateError``
        with the ``refused`` message when it rejects the statement's input (a constraint or a value)."""
        pool = self._pool
        if pool is None:
            raise BackendUnavailable(f"{self._what} is not open")
        attempts_left = self._size + 1 if idempotent else 1
        try:
            async with asyncio.timeout(self._timeout if time_limit is None else time_limit):
                while True:
                    attempts_left -= 1
                    try:
                        return await self._attempt(pool, operation)
                    except _LOST as exc:
                        if attempts_left <= 0 or isinstance(exc, _REFUSED):
                            raise
                        log.info("%s: connection lost, retrying on a fresh one", self._what)
        except _REFUSED as exc:
            raise TidegateError(refused or f"{self._what} refused the statement ({_kind(exc)})") from exc
        except _UNAVAILABLE as exc:
            raise self.unavailable(exc) from exc

    async def execute(
        self, sql: str, args: Sequence[object], *, idempotent: bool = False, optimistic: str | None = None
    ) -> str:
        """``run`` of one ``execute(sql, *args)``, for hot paths (the audit INSERT of every dispatch).

        On a connection kept at hand its one await is bounded by asyncpg's statement timeout, which
        costs less CPU than an ``asyncio.timeout`` and its task bookkeeping; otherwise (a connection to
        acquire, or a lost one to retry) it is ``run``, with everything ``run`` guarantees.

        ``optimistic``: ``sql`` without the clause that skips rows already stored (``ON CONFLICT DO
        NOTHING`` costs the server a speculative insertion per row), tried first on a kept connection;
        ``sql`` runs instead after a unique violation, and on every retry (the lost attempt may have
        committed)."""
        pool = self._pool
        ready = self._ready
        if pool is None or not ready or not _usable(ready[-1][0]):
            return await self.run(partial(_execute, sql, args), idempotent=idempotent)
        conn = ready.pop()[0]
        try:
            result: str = await conn.execute(optimistic or sql, *args, timeout=self._timeout)
        except BaseException as exc:
            if not _leaves_connection_usable(exc):
                with contextlib.suppress(asyncpg.InterfaceError):
                    conn.terminate()
            await self._release(pool, conn)
            if optimistic is not None and isinstance(exc, asyncpg.UniqueViolationError):
                return await self.run(partial(_execute, sql, args), idempotent=idempotent)
            if idempotent and isinstance(exc, _LOST) and not isinstance(exc, (TimeoutError, *_REFUSED)):
                log.info("%s: connection lost, retrying on a fresh one", self._what)
                return await self.run(partial(_execute, sql, args), idempotent=True)
            if isinstance(exc, _REFUSED):
                raise TidegateError(f"{self._what} refused the statement ({_kind(exc)})") from exc
            if isinstance(exc, _UNAVAILABLE):
                raise self.unavailable(exc) from exc
            raise
        await self._release(pool, conn)
        return result

    async def close(self) -> None:
        """Wait (up to the timeout) for connections in use, then close them all; terminate on timeout."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        ready, self._ready = self._ready, []
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        try:
            async with asyncio.timeout(self._timeout):
                if self._sweeping:
                    await asyncio.gather(*self._sweeping, return_exceptions=True)
                for conn, _ in ready:
                    await pool.release(conn)
                await pool.close()
        except asyncio.CancelledError:
            pool.terminate()
            raise
        except Exception as exc:  # connections still busy at the deadline, or a server gone meanwhile
            pool.terminate()
            log.warning("%s: connections terminated on close (%s)", self._what, _kind(exc))

    def unavailable(self, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"{self._what} did not answer ({_kind(exc)})")

    async def _attempt(
        self, pool: asyncpg.Pool[asyncpg.Record], operation: Callable[[Connection], Awaitable[T]]
    ) -> T:
        conn = await self._acquire(pool)
        try:
            result = await operation(conn)
        except BaseException as exc:
            if not _leaves_connection_usable(exc):
                # Timed out, cancelled or lost mid-statement: the protocol state is unknown; never reuse it.
                with contextlib.suppress(asyncpg.InterfaceError):  # already closed and handed back
                    conn.terminate()
            await self._release(pool, conn)
            raise
        await self._release(pool, conn)
        return result

    async def _acquire(self, pool: asyncpg.Pool[asyncpg.Record]) -> Connection:
        """The newest connection kept at hand that is still open, else one from asyncpg."""
        ready = self._ready
        while ready:
            conn, _ = ready.pop()
            if _usable(conn):
                return conn
            await pool.release(conn)  # asyncpg replaces it on a later acquire
        self._waiting += 1
        try:
            acquired: Connection = await pool.acquire()
            return acquired
        except Exception as exc:  # refused, failed, or a URL the driver cannot use: a retry will not help
            raise self.unavailable(exc) from exc
        finally:
            self._waiting -= 1

    async def _release(self, pool: asyncpg.Pool[asyncpg.Record], conn: Connection) -> None:
        """Keep ``conn`` at hand, or hand it back to asyncpg (see the module docstring)."""
        if self._pool is not pool or self._waiting or not _usable(conn):
            await pool.release(conn)  # asyncpg rolls back, or drops a closed one (a no-op when done)
            return
        self._ready.append((conn, monotonic()))
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(_IDLE_SECONDS, self._hand_back_idle)

    def _hand_back_idle(self) -> None:
        """Timer: connections kept at hand for ``_IDLE_SECONDS`` unused go back to asyncpg."""
        self._sweep = None
        pool = self._pool
        if pool is None:
            return
        cutoff = monotonic() - _IDLE_SECONDS
        idle = [conn for conn, since in self._ready if since <= cutoff]
        self._ready = [(conn, since) for conn, since in self._ready if since > cutoff]
        if self._ready:
            wait = self._ready[0][1] - cutoff  # the oldest left (the list is in release order)
            self._sweep = asyncio.get_running_loop().call_later(wait, self._hand_back_idle)
        if idle:
            task = asyncio.get_running_loop().create_task(_release_all(pool, idle))
            self._sweeping.add(task)
            task.add_done_callback(self._sweeping.discard)


async def _execute(sql: str, args: Sequence[object], conn: Connection) -> str:
    result: str = await conn.execute(sql, *args)
    return result


async def _release_all(pool: asyncpg.Pool[asyncpg.Record], connections: list[Connection]) -> None:
    for conn in connections:
        with contextlib.suppress(Exception):  # a connection that broke meanwhile is dropped all the same
            await pool.release(conn)


def _usable(conn: Connection) -> bool:
    """Open, outside any transaction, and still ours: asyncpg hands a lost connection back itself."""
    try:
        return not conn.is_closed() and not conn.is_in_transaction()
    except asyncpg.InterfaceError:  # already handed back
        return False


def _leaves_connection_usable(exc: BaseException) -> bool:
    """A statement the server refused leaves its connection fine; anything else may not."""
    if isinstance(exc, _REFUSED):
        return True
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, _LOST)


def _kind(exc: BaseException) -> str:
    """What went wrong, without the URL: a timeout, the SQLSTATE, or the error class and message."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, asyncpg.PostgresError):
        return f"{type(exc).__name__} {exc.sqlstate}"
    return f"{type(exc).__name__}: {exc}"
