"""Hot reload of the auth file (security.md §2) on a running server: new tables apply from the next
request, for JWTs already issued too; a broken file keeps the previous ones and says why."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers.errors import assert_error
from tests.helpers.server import running_server

from .auth_support import Identity, auth_settings, bearer, login, write_auth_file
from .conftest import ACTION

OLD_KEY, NEW_KEY = "tg_old-key", "tg_new-key"


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {within} s")
        await asyncio.sleep(0.05)


async def test_a_changed_file_applies_without_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "auth.yaml"
    first = [
        Identity("ops", "operator", grants=[{"tenants": ["*"]}]),
        Identity("ci", "operator", grants=[{"tenants": ["*"]}], key=OLD_KEY),
    ]
    settings = auth_settings(tmp_path, first)
    async with running_server(settings) as url, httpx.AsyncClient(base_url=url) as client:
        token = await login(client, "ops")
        assert (await client.post("/v1/dispatch", json=ACTION, headers=bearer(token))).status_code == 200

        write_auth_file(
            path,
            [
                Identity("ops", "viewer", grants=[{"tenants": ["*"]}]),  # demoted
                Identity("ci2", "operator", grants=[{"tenants": ["*"]}], key=NEW_KEY),
            ],
        )

        async def new_key_works() -> bool:
            return (await client.get("/v1/rules", headers=bearer(NEW_KEY))).status_code == 200

        await _eventually(new_key_works)
        assert_error(
            await client.get("/v1/rules", headers=bearer(OLD_KEY)), 401, "unauthorized", "invalid API key"
        )
        demoted = await client.post("/v1/dispatch", json=ACTION, headers=bearer(token))  # the same token
        assert_error(demoted, 403, "forbidden")

        with caplog.at_level(logging.ERROR, logger="tidegate.security.auth_file"):
            path.write_text("users:\n  - username: ops\n    role: root\n")

            async def error_logged() -> bool:
                return any("users[0]" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)

            await _eventually(error_logged)
        assert (await client.get("/v1/rules", headers=bearer(NEW_KEY))).status_code == 200  # kept
        problems = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("users[0].password_hash: Field required" in line for line in problems)
        assert any("users[0].role" in line for line in problems)


async def test_a_removed_user_loses_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    settings = auth_settings(tmp_path, [Identity("ops", "operator"), Identity("root", "admin")])
    async with running_server(settings) as url, httpx.AsyncClient(base_url=url) as client:
        token = await login(client, "ops")
        write_auth_file(path, [Identity("root", "admin")])

        async def refused() -> bool:
            return (await client.get("/v1/rules", headers=bearer(token))).status_code == 401

        await _eventually(refused)
        assert_error(
            await client.get("/v1/rules", headers=bearer(token)), 401, "unauthorized", "invalid token"
        )
