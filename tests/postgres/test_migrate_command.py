"""``tidegate migrate``: reads the config, migrates each postgres backend, says what it applied."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres.pg_support import connection, drop_schema, postgres_url, unique_schema
from tidegate.cli import main


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty working directory and no TIDEGATE_* variable (the test URL's own variable would be an
    unknown config key to the command)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("TIDEGATE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def database(clean: None) -> Iterator[tuple[str, str]]:
    """``(url, schema)``: the test server with ``search_path`` set to a fresh schema."""
    base, schema = postgres_url(), unique_schema()
    asyncio.run(_create_schema(base, schema))
    try:
        yield f"{base}{'&' if '?' in base else '?'}search_path={schema}", schema
    finally:
        asyncio.run(drop_schema(base, schema))


async def _create_schema(url: str, schema: str) -> None:
    async with connection(url) as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"')


async def _tables(schema: str) -> list[str]:
    async with connection(postgres_url()) as conn:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema)
    return [row["tablename"] for row in rows]


def test_migrate_applies_each_track_once_and_says_so(
    database: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, schema = database
    Path("tidegate.yaml").write_text(
        f"state: {{backend: postgres, url: '{url}', key_prefix: blue}}\naudit: {{backend: postgres}}\n"
    )
    assert main(["migrate"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert len(first) == 3
    assert first[0].endswith("state (blue_*): applied 1 kv and schedule tables; now at version 1")
    assert first[1].endswith(
        "audit (blue_*): applied 1 audit records, an index per query filter; now at version 1"
    )
    assert first[2].endswith(
        "events (blue_*): applied 1 event log and its retention mark, 2 the append's lock returns the head;"
        " now at version 2"
    )
    assert all(line.startswith("postgres ") for line in first)  # the server, without credentials
    assert asyncio.run(_tables(schema)) == [
        "blue_audit_records",
        "blue_events",
        "blue_events_meta",
        "blue_kv",
        "blue_schedule",
        "blue_schema_version",
    ]
    assert main(["migrate", "--config", "tidegate.yaml"]) == 0
    again = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1] for line in again] == [
        "state (blue_*): up to date at version 1",
        "audit (blue_*): up to date at version 1",
        "events (blue_*): up to date at version 2",
    ]


def test_three_migrate_commands_at_once_apply_each_step_once(
    database: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = database
    config = tmp_path / "tidegate.yaml"
    config.write_text(
        f"state: {{backend: postgres, url: '{url}'}}\naudit: {{enabled: false}}\nstream: {{backend: local}}\n"
    )

    async def run_three() -> list[tuple[int, bytes]]:
        async def one() -> tuple[int, bytes]:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tidegate",
                "migrate",
                "--config",
                str(config),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
            assert process.returncode is not None
            return process.returncode, out + err

        return list(await asyncio.gather(one(), one(), one()))

    results = asyncio.run(run_three())
    assert [code for code, _ in results] == [0, 0, 0], results
    outputs = sorted(output.decode().split(": ", 1)[1].strip() for _, output in results)
    assert outputs == [
        "state (tidegate_*): applied 1 kv and schedule tables; now at version 1",
        "state (tidegate_*): up to date at version 1",
        "state (tidegate_*): up to date at version 1",
    ]


def test_nothing_to_migrate_without_a_postgres_backend(
    clean: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    assert (
        capsys.readouterr().out == "nothing to migrate: neither state.backend nor audit.backend is postgres\n"
    )


def test_a_database_that_does_not_answer_exits_1(
    clean: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "down.yaml"
    config.write_text(f"audit: {{backend: postgres, url: 'postgresql://u:hunter2@127.0.0.1:{port}/db'}}\n")
    assert main(["migrate", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: audit store (postgres 127.0.0.1:{port}/db) did not answer")
    assert "hunter2" not in captured.err


def test_a_config_error_exits_2(clean: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("state: {backend: postgres}\n")
    assert main(["migrate", "--config", str(config)]) == 2
    assert "state.url" in capsys.readouterr().err
