"""Schema migrations (postgres/migrator.py, schema.py): each step once, concurrently safe, all or nothing."""

from __future__ import annotations

import asyncio

import pytest

from tests.postgres.pg_support import connection, scratch_schema
from tidegate.errors import BackendUnavailable, ConfigError
from tidegate.postgres.migrator import MIGRATION_LOCK_KEY, MigrationReport, migrate_pool
from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import PgPool
from tidegate.postgres.schema import TRACKS, Step, pending


async def _migrate(url: str, names: TableNames, track: str, seconds: float = 5.0) -> MigrationReport:
    pool = PgPool(url, size=1, timeout=seconds, role=f"{track} store")
    await pool.open()
    try:
        return await migrate_pool(pool, names, track, time_limit=seconds)
    finally:
        await pool.close()


async def _tables(url: str, schema: str) -> set[str]:
    async with connection(url) as conn:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    return {row["tablename"] for row in rows}


async def _versions(url: str, names: TableNames) -> list[tuple[str, int]]:
    async with connection(url) as conn:
        rows = await conn.fetch(f"SELECT track, version FROM {names.table('schema_version')} ORDER BY 1, 2")
    return [(row["track"], row["version"]) for row in rows]


async def test_a_fresh_schema_gets_every_step_once_and_a_rerun_applies_nothing() -> None:
    async with scratch_schema() as (url, schema):
        names = TableNames(schema=schema)
        first = await _migrate(url, names, "state")
        assert [step.version for step in first.applied] == [step.version for step in TRACKS["state"]]
        assert first.version == TRACKS["state"][-1].version
        assert await _tables(url, schema) == {"tidegate_schema_version", "tidegate_kv", "tidegate_schedule"}
        again = await _migrate(url, names, "state")
        assert (again.applied, again.version) == ((), first.version)
        assert again.describe() == f"state ({schema}.tidegate_*): up to date at version {first.version}"
        assert first.describe().startswith(f"state ({schema}.tidegate_*): applied 1 kv and schedule tables")
        assert await _versions(url, names) == [("state", 1)]


async def test_three_concurrent_migrations_apply_each_step_once() -> None:
    async with scratch_schema() as (url, schema):
        names = TableNames(schema=schema)
        reports = await asyncio.gather(*(_migrate(url, names, "audit") for _ in range(3)))
        assert sorted(len(report.applied) for report in reports) == [0, 0, len(TRACKS["audit"])]
        assert {report.version for report in reports} == {TRACKS["audit"][-1].version}
        assert await _versions(url, names) == [("audit", step.version) for step in TRACKS["audit"]]


async def test_tracks_and_prefixes_are_independent() -> None:
    async with scratch_schema() as (url, schema):
        a, b = TableNames(prefix="a", schema=schema), TableNames(prefix="b-2", schema=schema)
        await _migrate(url, a, "state")
        await _migrate(url, a, "audit")
        await _migrate(url, b, "state")
        assert await _tables(url, schema) == {
            "a_schema_version",
            "a_kv",
            "a_schedule",
            "a_audit_records",
            "b-2_schema_version",
            "b-2_kv",
            "b-2_schedule",
        }
        assert await _versions(url, a) == [("audit", 1), ("state", 1)]


async def test_an_up_to_date_track_needs_no_lock_and_a_pending_one_waits_for_it() -> None:
    async with scratch_schema() as (url, schema):
        done, todo = TableNames(prefix="done", schema=schema), TableNames(prefix="todo", schema=schema)
        await _migrate(url, done, "state")
        async with connection(url) as holder:
            await holder.execute(
                "SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY
            )  # another migrator is at work
            assert (await _migrate(url, done, "state", seconds=0.3)).applied == ()
            with pytest.raises(BackendUnavailable, match="timed out"):
                await _migrate(url, todo, "state", seconds=0.3)
            await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        assert len((await _migrate(url, todo, "state")).applied) == 1


async def test_a_failing_step_leaves_nothing_behind() -> None:
    async with scratch_schema() as (url, schema):
        names = TableNames(schema=schema)
        async with connection(url) as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE {names.table("schedule")} (x int)')
        with pytest.raises(BackendUnavailable, match="DuplicateTableError 42P07"):
            await _migrate(url, names, "state")
        assert await _tables(url, schema) == {"tidegate_schedule"}  # no kv, no version table


def test_pending_steps_come_in_version_order() -> None:
    def sql(names: TableNames) -> str:
        return ""

    steps = [Step("t", 3, "c", sql), Step("t", 1, "a", sql), Step("t", 2, "b", sql)]
    assert [step.name for step in pending(steps, set())] == ["a", "b", "c"]
    assert [step.name for step in pending(steps, {1, 3})] == ["b"]
    assert pending(steps, {1, 2, 3}) == []


def test_every_track_is_numbered_from_one_without_gaps() -> None:
    for track, steps in TRACKS.items():
        assert [step.version for step in steps] == list(range(1, len(steps) + 1))
        assert {step.track for step in steps} == {track}


@pytest.mark.parametrize(
    ("names", "table"),
    [
        (TableNames(), '"tidegate_kv"'),
        (TableNames(prefix="Prod-1_x"), '"Prod-1_x_kv"'),
        (TableNames(schema="ops"), '"ops"."tidegate_kv"'),
    ],
)
def test_table_names_are_quoted_and_qualified(names: TableNames, table: str) -> None:
    assert names.table("kv") == table


@pytest.mark.parametrize(
    ("prefix", "schema"),
    [("", None), ('x"; DROP TABLE y; --', None), ("a" * 33, None), ("ok", 'a"b'), ("ok", "1abc"), ("ok", "")],
)
def test_names_that_could_break_out_of_their_quotes_are_refused(prefix: str, schema: str | None) -> None:
    with pytest.raises(ConfigError):
        TableNames(prefix=prefix, schema=schema)
