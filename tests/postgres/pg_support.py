"""Real PostgreSQL for the tests: the shared test server and one throwaway schema per store.

Every store a test opens lives in its own schema (created by the store's migrations, dropped when the
store is closed), so tests never see each other's rows and leave nothing behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from tidegate.audit.postgres import PostgresAuditStore
from tidegate.clock import Clock
from tidegate.postgres.names import TableNames
from tidegate.store.postgres import PostgresStateStore

POSTGRES_ENV = "TIDEGATE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """``TIDEGATE_TEST_POSTGRES_URL``, else the local default (skip when absent or, in CI, fail)."""
    from tests.store import store_backends  # imported here: store_backends imports this module

    return store_backends.service_url(POSTGRES_ENV, "postgres", default=DEFAULT_POSTGRES_URL)


def unique_schema() -> str:
    return f"tg_test_{uuid.uuid4().hex[:20]}"


async def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema``; retried on a deadlock, which a query of a just-closed store can still cause: a
    cancelled query's server process ends a moment after its connection was dropped."""
    conn = await asyncpg.connect(url)
    try:
        for attempt in range(10):
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                return
            except asyncpg.exceptions.DeadlockDetectedError:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_schema() -> AsyncIterator[tuple[str, str]]:
    """``(url, schema)``: a schema name nobody uses, dropped on exit (whoever created it)."""
    url, schema = postgres_url(), unique_schema()
    try:
        yield url, schema
    finally:
        await drop_schema(url, schema)


@asynccontextmanager
async def connection(url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """A plain connection outside any store, to look at or tamper with the tables."""
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


class DisposablePostgresStore(PostgresStateStore):
    """A PostgresStateStore whose schema is dropped when it is closed (every time: close is idempotent)."""

    def __init__(self, url: str, clock: Clock, **options: Any) -> None:
        super().__init__(url, clock, **options)
        self.url = url

    async def close(self) -> None:
        await super().close()
        if self.names.schema is not None:
            await drop_schema(self.url, self.names.schema)


class DisposablePostgresAuditStore(PostgresAuditStore):
    """A PostgresAuditStore whose schema is dropped when it is closed."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.url = url

    async def close(self) -> None:
        await super().close()
        if self.names.schema is not None:
            await drop_schema(self.url, self.names.schema)


async def open_postgres_store(clock: Clock, **options: Any) -> DisposablePostgresStore:
    """An opened state store on the shared test server, in a fresh schema."""
    options.setdefault("operation_timeout", 5.0)
    options.setdefault("pool_size", 4)
    options.setdefault("names", TableNames(schema=unique_schema()))
    store = DisposablePostgresStore(postgres_url(), clock, **options)
    await store.open()
    return store


async def open_postgres_audit_store(**options: Any) -> DisposablePostgresAuditStore:
    """An opened audit store on the shared test server, in a fresh schema."""
    options.setdefault("operation_timeout", 5.0)
    options.setdefault("pool_size", 4)
    options.setdefault("names", TableNames(schema=unique_schema()))
    store = DisposablePostgresAuditStore(postgres_url(), **options)
    await store.open()
    return store
