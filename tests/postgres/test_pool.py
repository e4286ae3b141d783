"""Outages (postgres/pool.py): a server that is down, hung, out of connections or that drops connections
yields BackendUnavailable within the timeout, never a hang or a driver error, and calls recover by
themselves once the server is back. Driven through a real store on the shared test server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from tests.postgres.pg_support import (
    DisposablePostgresStore,
    connection,
    open_postgres_store,
    postgres_url,
    unique_schema,
)
from tests.postgres.tcp_proxy import TcpProxy
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import Connection, PgPool, describe_url
from tidegate.store.postgres import PostgresStateStore

#: Far longer than any test waits: a call that fails before it did not wait for its timeout.
PATIENT = 60.0
#: Bound on the calls that must fail fast; reaching it fails the test with TimeoutError instead of hanging.
PROMPTLY = 10.0
#: Connections whose last statement named a schema: those of the store that lives in it.
_COUNT_OF_SCHEMA_CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND strpos(query, $1) > 0"
)
_WAITING = " AND wait_event_type = 'Lock'"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(postgres_url())
    await proxy.start()
    try:
        yield proxy
    finally:
        proxy.resume()
        await proxy.stop()


async def _through(proxy: TcpProxy, seconds: float, pool_size: int = 4) -> DisposablePostgresStore:
    store = DisposablePostgresStore(
        proxy.url,
        ManualClock(),
        names=TableNames(schema=unique_schema()),
        pool_size=pool_size,
        operation_timeout=seconds,
    )
    await store.open()
    store.url = postgres_url()  # the schema is dropped directly, whatever the proxy does
    return store


async def test_a_server_where_nothing_listens_fails_to_open_at_once() -> None:
    url = f"postgresql://tidegate:s3cret-pw@127.0.0.1:{_free_port()}/test"
    store = PostgresStateStore(url, ManualClock(), operation_timeout=PATIENT)
    async with asyncio.timeout(PROMPTLY):
        with pytest.raises(
            BackendUnavailable, match=r"state store \(postgres 127\.0\.0\.1:\d+/test\)"
        ) as raised:
            await store.open()
    assert "s3cret" not in str(raised.value) and "tidegate:" not in str(raised.value)
    assert not isinstance(raised.value.__cause__, BackendUnavailable)


async def test_every_call_fails_fast_while_the_server_is_down_then_recovers(proxy: TcpProxy) -> None:
    store = await _through(proxy, PATIENT)
    try:
        await store.put("k", b"v")
        await proxy.stop()
        calls = [
            store.get("k"),
            store.put("k", b"w"),
            store.put_if_absent("claim", b"x"),
            store.incr("n"),
            store.scan("k"),
            store.ping(),
        ]
        async with asyncio.timeout(PROMPTLY):
            results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(result, BackendUnavailable) for result in results), results
        await proxy.start()
        assert await store.get("k") == b"v"
        assert await store.put_if_absent("claim", b"x") is True
        assert await store.incr("n") == 1
    finally:
        await store.close()


async def test_a_hung_server_times_out_then_recovers(proxy: TcpProxy) -> None:
    store = await _through(proxy, seconds=0.3)
    try:
        await store.put("k", b"v")
        proxy.pause()
        with pytest.raises(BackendUnavailable, match="timed out"):
            await store.get("k")
        with pytest.raises(BackendUnavailable, match="timed out"):
            await store.put_if_absent("claim", b"x")
        proxy.resume()
        assert await store.get("k") == b"v"
        assert await store.put_if_absent("claim", b"x") is True
    finally:
        await store.close()


async def test_a_connection_found_dead_mid_statement_is_retried_only_by_idempotent_calls(
    proxy: TcpProxy,
) -> None:
    store = await _through(proxy, PATIENT, pool_size=1)
    try:
        await store.put("k", b"v")
        proxy.sever_open_connections()
        assert await store.get("k") == b"v"  # a read is retried on a fresh connection
        proxy.sever_open_connections()
        # a claim whose answer was lost may have won: it is reported, never retried
        with pytest.raises(BackendUnavailable, match="ConnectionDoesNotExistError"):
            await store.put_if_absent("claim", b"x")
        assert await store.put_if_absent("claim", b"x") is True  # this one never reached the server
    finally:
        await store.close()


async def test_an_exhausted_pool_is_unavailable_after_the_timeout_then_recovers() -> None:
    store = await open_postgres_store(ManualClock(), pool_size=1, operation_timeout=0.3)
    try:
        await store.put("locked", b"v")
        async with connection(postgres_url()) as blocker:
            kv = store.names.table("kv")
            async with blocker.transaction():
                await blocker.execute(f"SELECT 1 FROM {kv} WHERE key = $1 FOR UPDATE", b"locked")
                stuck = asyncio.create_task(store.put("locked", b"w"))  # holds the only connection
                waiting = await asyncio.gather(store.get("other"), stuck, return_exceptions=True)
                for _ in range(1000):  # until the server, too, has given up the stuck statement
                    if not await blocker.fetchval(_COUNT_OF_SCHEMA_CONNECTIONS + _WAITING, kv):
                        break
                    await asyncio.sleep(0.01)
        assert [type(result) for result in waiting] == [BackendUnavailable, BackendUnavailable]
        assert all("timed out" in str(result) for result in waiting)
        assert await store.get("locked") == b"v"  # the write that timed out never lands later
        await store.put("other", b"o")
        assert await store.get("other") == b"o"
    finally:
        await store.close()


async def test_connections_terminated_by_the_server_are_replaced() -> None:
    store = await open_postgres_store(ManualClock(), pool_size=4)
    try:
        await asyncio.gather(*(store.put(f"k{i}", b"v") for i in range(8)))  # opens several connections
        schema = store.names.schema
        async with connection(postgres_url()) as admin:
            killed = await admin.fetchval(
                _COUNT_OF_SCHEMA_CONNECTIONS.replace("count(*)", "count(pg_terminate_backend(pid))"),
                schema,
            )
            assert killed >= 1
            for _ in range(1000):  # until the server has let them go
                if not await admin.fetchval(_COUNT_OF_SCHEMA_CONNECTIONS, schema):
                    break
                await asyncio.sleep(0.01)
        # the pool drops the dead connections and connects afresh: no call fails
        assert await asyncio.gather(*(store.get(f"k{i}") for i in range(8))) == [b"v"] * 8
        assert await store.put_if_absent("claim", b"x") is True
        assert await store.incr("n") == 1
    finally:
        await store.close()


async def test_a_closed_pool_is_unavailable() -> None:
    pool = PgPool(postgres_url(), size=1, timeout=1.0, role="state store")
    with pytest.raises(BackendUnavailable, match="is not open"):
        await pool.run(lambda conn: conn.fetchval("SELECT 1"))
    await pool.open()
    assert await pool.run(lambda conn: conn.fetchval("SELECT 1")) == 1
    await pool.close()
    await pool.close()
    with pytest.raises(BackendUnavailable, match="is not open"):
        await pool.run(lambda conn: conn.fetchval("SELECT 1"))


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("postgresql://u:pw@db.internal:6543/tidegate?sslmode=require", "postgres db.internal:6543/tidegate"),
        ("postgresql://localhost/app", "postgres localhost:5432/app"),
        ("postgres://u@[::1]:5433", "postgres ::1:5433"),
        ("postgresql://h:notaport/db", "postgres ?"),
    ],
)
def test_messages_name_the_server_without_credentials(url: str, described: str) -> None:
    assert describe_url(url) == described


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@127.0.0.1:99999/db",
        "postgresql://u@[bad/db",
        "postgresql://u@127.0.0.1/db?sslmode=bogus",
    ],
)
async def test_a_url_the_driver_cannot_use_is_unavailable_not_a_crash(url: str) -> None:
    pool = PgPool(url, size=1, timeout=1.0, role="state store")
    await pool.open()
    try:
        with pytest.raises(BackendUnavailable, match=r"state store \(postgres .*\) did not answer"):
            await pool.run(lambda conn: conn.fetchval("SELECT 1"))
    finally:
        await pool.close()


async def test_a_caller_waiting_for_a_connection_gets_the_one_an_operation_is_done_with() -> None:
    pool = PgPool(postgres_url(), size=1, timeout=2.0, role="state store")
    await pool.open()
    try:
        release = asyncio.Event()

        async def hold(conn: Connection) -> int:
            await release.wait()
            pid: int = await conn.fetchval("SELECT pg_backend_pid()")
            return pid

        async def pid(conn: Connection) -> int:
            value: int = await conn.fetchval("SELECT pg_backend_pid()")
            return value

        first = asyncio.create_task(pool.run(hold))
        second = asyncio.create_task(pool.run(pid))  # waits: the only connection is in use
        await asyncio.sleep(0.05)
        release.set()
        async with asyncio.timeout(PROMPTLY):
            assert await first == await second  # handed over, not kept back until the timeout
        assert await pool.run(pid) == await first  # and kept at hand for the next call
    finally:
        await pool.close()


async def test_a_connection_left_inside_a_transaction_is_rolled_back_before_reuse() -> None:
    pool = PgPool(postgres_url(), size=1, timeout=2.0, role="state store")
    await pool.open()
    try:
        await pool.run(lambda conn: conn.execute("BEGIN; SET LOCAL application_name = 'left-open'"))
        name = await pool.run(lambda conn: conn.fetchval("SELECT current_setting('application_name')"))
        assert name == "tidegate"  # the open transaction, and its SET LOCAL with it, was rolled back
    finally:
        await pool.close()


async def test_a_connection_kept_at_hand_is_closed_once_idle_for_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tidegate.postgres.pool._IDLE_SECONDS", 0.1)
    pool = PgPool(postgres_url(), size=2, timeout=2.0, role="state store")
    await pool.open()
    try:

        async def pid(conn: Connection) -> int:
            value: int = await conn.fetchval("SELECT pg_backend_pid()")
            return value

        first = await pool.run(pid)
        assert await pool.run(pid) == first  # kept at hand while in use
        await asyncio.sleep(0.6)  # idle: handed back, and asyncpg closes it after its idle limit
        assert await pool.run(pid) != first
    finally:
        await pool.close()
