"""``tidegate tail`` and ``tidegate dispatch`` as real subprocesses against a real server: what a person
sees in the terminal, the raw ``--json`` lines, gaps and reconnections announced, and exit statuses."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest

from tests.client._proxy import Proxy
from tests.client.conftest import action, client_settings
from tests.helpers.server import serving
from tidegate.client import AsyncClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = client_settings(tmp_path_factory.mktemp("cli"), executor={"max_retries": 0})
    with serving(settings) as url:
        yield url


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    env.pop("FORCE_COLOR", None)
    env.pop("NO_COLOR", None)
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


class Tail:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr: list[str] = []

    async def line(self, within: float = 10.0) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), within)
        assert raw, "tail ended: " + "".join(self.stderr)
        return raw.decode().rstrip("\n")

    async def notice(self, containing: str, within: float = 10.0) -> str:
        """Read stderr until a line contains ``containing``."""
        assert self.process.stderr is not None
        async with asyncio.timeout(within):
            while True:
                raw = await self.process.stderr.readline()
                assert raw, "tail ended: " + "".join(self.stderr)
                self.stderr.append(raw.decode())
                if containing in self.stderr[-1]:
                    return self.stderr[-1]


@asynccontextmanager
async def tail(*args: str, **env: str) -> AsyncIterator[Tail]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidegate",
        "tail",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(**env),
    )
    try:
        yield Tail(process)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def test_one_line_per_event_with_the_columns_a_person_needs(server: str, tenant: str) -> None:
    async with tail("--url", server, "--tenant", tenant, "--no-color") as running:
        await running.notice(f"connected to {server}")
        async with AsyncClient(server) as tg:
            executed = await tg.dispatch(action(tenant))
            suppressed = await tg.dispatch(action(tenant, "spam"))
            failed = await tg.dispatch(
                {**action(tenant), "provider": "webhook", "metadata": {"webhook_url": _dead_url()}}
            )
        lines = [await running.line() for _ in range(3)]
    first, second, third = (line.split() for line in lines)
    assert first[1] == f"{tenant}/notifications" and first[2:6] == [
        "action_dispatched",
        "executed",
        "log",
        executed.action_id,
    ]
    assert first[0].endswith("Z") and first[0][:2] == "20"
    assert second[2:6] == ["action_dispatched", "suppressed", "log", suppressed.action_id]
    assert third[2:6] == ["action_dispatched", "failed", "webhook", failed.action_id]
    assert "connection" in lines[2] and "attempts: 1" in lines[2]
    assert "\x1b[" not in "".join(lines)


async def test_colours_when_the_terminal_takes_them(server: str, tenant: str) -> None:
    async with tail("--url", server, "--tenant", tenant, FORCE_COLOR="1") as running:
        await running.notice("connected")
        async with AsyncClient(server) as tg:
            await tg.dispatch(action(tenant))
        line = await running.line()
    assert "\x1b[32m" in line and "executed" in line  # green for an executed outcome


async def test_json_prints_the_raw_events(server: str, tenant: str) -> None:
    async with tail("--json", "--tenant", tenant, "-n", "1", TIDEGATE_URL=server) as running:
        await running.notice("connected")
        async with AsyncClient(server) as tg:
            result = await tg.dispatch(action(tenant))
        data = orjson.loads(await running.line())
        assert await asyncio.wait_for(running.process.wait(), 10) == 0
    assert data["type"] == "action_dispatched" and data["action_id"] == result.action_id
    assert list(data)[:3] == ["id", "timestamp", "type"]
    assert data["outcome"] == {"Executed": {"status": "success", "body": None, "headers": {}}}


async def test_it_says_when_it_lagged(server: str, tenant: str) -> None:
    async with AsyncClient(server) as tg:
        earlier = await tg.dispatch(action(tenant))
    async with tail("--url", server, "--tenant", tenant, "--last-event-id", "gone", "--no-color") as running:
        notice = await running.notice("lagged")
        assert "replay window" in notice
        assert earlier.action_id in await running.line()


async def test_it_reconnects_by_itself_and_says_so(server: str, tenant: str) -> None:
    with Proxy(server) as proxy:
        async with tail("--url", proxy.url, "--tenant", tenant, "--no-color") as running:
            await running.notice("connected")
            async with AsyncClient(server) as tg:
                first = await tg.dispatch(action(tenant))
                assert first.action_id in await running.line()
                proxy.cut()
                lost = await running.notice("connection lost")
                assert "reconnecting in" in lost
                missed = await tg.dispatch(action(tenant))
            back = await running.notice("reconnected")
            record = await tg_record(server, first.action_id)
            assert f"resuming after {record}" in back  # the event id is the audit record's id
            assert missed.action_id in await running.line()


async def tg_record(server: str, action_id: str) -> str:
    async with AsyncClient(server) as tg:
        return (await tg.audit_record(action_id)).id


async def test_unfixable_errors_end_tail_with_status_1(server: str) -> None:
    async with tail("--url", server, "--tenant", "not a tenant!") as running:
        assert await asyncio.wait_for(running.process.wait(), 10) == 1
        assert running.process.stderr is not None
        err = (await running.process.stderr.read()).decode()
    assert "invalid_filter" in err


# --- tidegate dispatch -------------------------------------------------------------------------------


async def dispatch(*args: str, stdin: bytes | None = None, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidegate",
        "dispatch",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(**env),
    )
    out, err = await asyncio.wait_for(process.communicate(stdin or b""), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_dispatch_from_an_argument_a_file_and_stdin(server: str, tenant: str, tmp_path: Path) -> None:
    body = orjson.dumps(action(tenant)).decode()
    status, out, err = await dispatch("--url", server, body)
    assert status == 0, err
    assert orjson.loads(out)["outcome"] == "executed"

    path = tmp_path / "action.json"
    path.write_text(orjson.dumps(action(tenant, "spam")).decode())
    status, out, _ = await dispatch(f"@{path}", TIDEGATE_URL=server)
    assert status == 0 and orjson.loads(out) == {
        "action_id": orjson.loads(out)["action_id"],
        "outcome": "suppressed",
        "rule": "block-spam",
    }

    status, out, _ = await dispatch("--url", server, "--dry-run", stdin=body.encode())
    assert status == 0 and orjson.loads(out)["outcome"] == "dry_run"

    async with AsyncClient(server) as tg:
        assert (await tg.audit(tenant=tenant)).total == 2  # the dry run left no record


async def test_dispatch_exit_statuses(server: str, tenant: str) -> None:
    status, _, err = await dispatch(
        "--url", server, orjson.dumps({**action(tenant), "provider": "nope"}).decode()
    )
    assert status == 1 and "provider_not_found" in err and "Provider not found: nope" in err

    status, _, err = await dispatch("--url", server, "{not json")
    assert status == 2 and "not valid JSON" in err

    status, _, err = await dispatch("--url", server, "@/no/such/file.json")
    assert status == 2 and "cannot read" in err

    failing = {**action(tenant), "provider": "webhook", "metadata": {"webhook_url": _dead_url()}}
    status, out, _ = await dispatch("--url", server, orjson.dumps(failing).decode())
    assert status == 3 and orjson.loads(out)["outcome"] == "failed"

    status, _, err = await dispatch("--url", _dead_url(), orjson.dumps(action(tenant)).decode())
    assert status == 1 and "ConnectError" in err


async def test_dispatch_a_batch_and_a_streamed_dispatch(server: str, tenant: str) -> None:
    batch = orjson.dumps([action(tenant), {**action(tenant), "provider": "nope"}]).decode()
    status, out, _ = await dispatch("--url", server, batch)
    results = orjson.loads(out)["results"]
    assert status == 3 and [r["status"] for r in results] == ["success", "error"]

    status, out, err = await dispatch("--url", server, "--stream", orjson.dumps(action(tenant)).decode())
    assert status == 0 and orjson.loads(out)["outcome"] == "executed"
    assert "dispatch_started" in err and "attempt_started" in err and "outcome" in err


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
