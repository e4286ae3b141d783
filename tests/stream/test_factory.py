"""Which event log the configuration builds (config.md §4.4), opened and ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import make_settings
from tests.postgres.pg_support import connection, scratch_schema
from tests.store.redis_support import delete_prefix, free_port, redis_url, unique_prefix
from tidegate.clock import ManualClock
from tidegate.errors import BackendUnavailable
from tidegate.stream.factory import open_event_log
from tidegate.stream.log import LocalEventLog
from tidegate.stream.postgres_log import PostgresEventLog
from tidegate.stream.redis_log import RedisEventLog


async def test_the_embedded_default_is_the_local_log(tmp_path: Path) -> None:
    log = await open_event_log(make_settings(tmp_path), ManualClock())
    assert isinstance(log, LocalEventLog)


async def test_auto_follows_a_redis_state_backend(tmp_path: Path) -> None:
    url, prefix = redis_url(), unique_prefix()
    settings = make_settings(tmp_path, state={"backend": "redis", "url": url, "key_prefix": prefix})
    log = await open_event_log(settings, ManualClock())
    try:
        assert isinstance(log, RedisEventLog) and log.key_prefix == prefix
        await log.ping()
    finally:
        await log.close()
        await delete_prefix(url, prefix)


async def test_an_explicit_postgres_log_beside_local_state(tmp_path: Path) -> None:
    async with scratch_schema() as (base, schema):
        async with connection(base) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
        settings = make_settings(tmp_path, stream={"backend": "postgres", "url": url})
        log = await open_event_log(settings, ManualClock())
        try:
            assert isinstance(log, PostgresEventLog)
            await log.ping()
        finally:
            await log.close()


async def test_streaming_off_keeps_events_in_process(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, stream={"enabled": False, "backend": "redis", "url": redis_url()})
    assert isinstance(await open_event_log(settings, ManualClock()), LocalEventLog)


async def test_a_redis_that_does_not_answer_fails_to_open(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(
        tmp_path, stream={"backend": "redis", "url": url}, state={"operation_timeout_seconds": 0.5}
    )
    with pytest.raises(BackendUnavailable):
        await open_event_log(settings, ManualClock())
