"""``PgPool.execute``, the hot path of one statement: on a connection kept at hand it is bounded by
asyncpg's statement timeout instead of ``run``'s ``asyncio.timeout``, and must keep every promise ``run``
makes: a hung server is unavailable within the timeout, a lost connection is retried only for idempotent
statements, a refused statement is the caller's error, and nothing broken is ever reused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.postgres.pg_support import connection, postgres_url, unique_schema
from tests.postgres.tcp_proxy import TcpProxy
from tidegate.errors import BackendUnavailable, TidegateError
from tidegate.postgres.pool import Connection, PgPool

#: Bound on the calls that must fail fast; reaching it fails the test with TimeoutError instead of hanging.
PROMPTLY = 10.0


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = unique_schema()
    async with connection(postgres_url()) as admin:
        await admin.execute(f"CREATE SCHEMA {name}; CREATE TABLE {name}.t (id int PRIMARY KEY)")
    try:
        yield name
    finally:
        async with connection(postgres_url()) as admin:
            await admin.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(postgres_url())
    await proxy.start()
    try:
        yield proxy
    finally:
        proxy.resume()
        await proxy.stop()


async def _pid(conn: Connection) -> int:
    pid: int = await conn.fetchval("SELECT pg_backend_pid()")
    return pid


async def _ids(pool: PgPool, schema: str) -> list[int]:
    rows = await pool.run(lambda conn: conn.fetch(f"SELECT id FROM {schema}.t ORDER BY id"))
    return [row["id"] for row in rows]


async def test_execute_runs_on_the_connection_kept_at_hand(schema: str) -> None:
    pool = PgPool(postgres_url(), size=2, timeout=2.0, role="audit store")
    with pytest.raises(BackendUnavailable, match="is not open"):
        await pool.execute(f"INSERT INTO {schema}.t VALUES ($1)", (0,))
    await pool.open()
    try:
        insert = f"INSERT INTO {schema}.t VALUES ($1) ON CONFLICT DO NOTHING"
        assert await pool.execute(insert, (1,)) == "INSERT 0 1"  # nothing at hand yet: acquired
        kept = await pool.run(_pid)
        assert await pool.execute(insert, (2,), idempotent=True) == "INSERT 0 1"
        assert await pool.run(_pid) == kept  # the same connection, kept at hand again
        assert await pool.execute(insert, (2,)) == "INSERT 0 0"
        assert await _ids(pool, schema) == [1, 2]
    finally:
        await pool.close()


async def test_a_refused_statement_is_the_callers_error_and_leaves_the_connection_in_use(schema: str) -> None:
    pool = PgPool(postgres_url(), size=1, timeout=2.0, role="audit store")
    await pool.open()
    try:
        kept = await pool.run(_pid)
        insert = f"INSERT INTO {schema}.t VALUES ($1)"
        await pool.execute(insert, (1,))
        with pytest.raises(TidegateError, match=r"refused the statement \(UniqueViolationError 23505\)"):
            await pool.execute(insert, (1,), idempotent=True)
        with pytest.raises(TidegateError, match="refused the statement"):
            await pool.execute(insert, ("not a number",))
        assert await pool.run(_pid) == kept
    finally:
        await pool.close()


async def test_a_hung_server_is_unavailable_within_the_timeout_and_the_connection_is_not_reused(
    proxy: TcpProxy, schema: str
) -> None:
    pool = PgPool(proxy.url, size=2, timeout=0.3, role="audit store")
    await pool.open()
    try:
        insert = f"INSERT INTO {schema}.t VALUES ($1) ON CONFLICT DO NOTHING"
        await pool.execute(insert, (1,))
        hung = await pool.run(_pid)
        proxy.pause()
        hung_message = r"audit store \(postgres .*\) did not answer \(timed out\)"
        async with asyncio.timeout(PROMPTLY):
            with pytest.raises(BackendUnavailable, match=hung_message):
                await pool.execute(insert, (2,), idempotent=True)  # a timeout is never retried
        proxy.resume()
        await pool.execute(insert, (3,))
        assert await pool.run(_pid) != hung  # the interrupted connection was terminated, not kept
        assert 3 in await _ids(pool, schema)
    finally:
        await pool.close()


async def test_a_kept_connection_found_dead_is_retried_only_by_idempotent_statements(
    proxy: TcpProxy, schema: str
) -> None:
    pool = PgPool(proxy.url, size=1, timeout=5.0, role="audit store")
    await pool.open()
    try:
        insert = f"INSERT INTO {schema}.t VALUES ($1) ON CONFLICT DO NOTHING"
        await pool.execute(insert, (1,))
        proxy.sever_open_connections()
        assert await pool.execute(insert, (2,), idempotent=True) == "INSERT 0 1"  # on a fresh connection
        proxy.sever_open_connections()
        with pytest.raises(BackendUnavailable, match="ConnectionDoesNotExistError"):
            await pool.execute(insert, (3,))  # its answer may have been lost: reported, never retried
        await pool.execute(insert, (4,))
        assert await _ids(pool, schema) == [1, 2, 4]
    finally:
        await pool.close()
