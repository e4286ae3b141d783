"""The CLI keeps secrets and payloads out of its output (security.md §7): ``check-config`` refuses an auth
file that ``serve`` would refuse, and library loggers that print request data stay quiet at DEBUG."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import aiosqlite
import httpx
import pytest

from tidegate.cli import configure_logging, main
from tidegate.config import LoggingSettings

SECRET = "s" * 40
CAPPED = ("aiosqlite", "httpx", "httpcore")


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No config file or TIDEGATE_* variable around; the logging setup restored afterwards."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("TIDEGATE_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in CAPPED}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def _auth_config(directory: Path, auth_file: str) -> None:
    (directory / "tidegate.yaml").write_text(f"auth: {{enabled: true, jwt_secret: '{SECRET}'}}\n")
    (directory / "auth.yaml").write_text(auth_file)


def test_check_config_refuses_an_invalid_auth_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _auth_config(tmp_path, "users:\n  - username: alice\n    password_hash: nope\n    role: boss\n")
    assert main(["check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "auth.yaml: users[0].password_hash: must be an argon2id PHC string" in captured.err
    assert "auth.yaml: users[0].role:" in captured.err  # every problem, not only the first
    assert "nope" not in captured.err and SECRET not in captured.err
    assert main(["check-config", "--show"]) == 2  # nothing is shown for a config serve would refuse


def test_check_config_accepts_a_valid_auth_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _auth_config(tmp_path, "users: []\napi_keys: []\n")
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out == "OK: configuration is valid\n"


def test_check_config_reads_no_auth_file_while_auth_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0  # auth.yaml does not exist, and need not


async def _query(database: Path, parameter: str) -> None:
    async with aiosqlite.connect(database) as conn:
        await conn.execute("SELECT ?", (parameter,))


async def test_debug_logging_never_prints_sqlite_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LoggingSettings(level="debug"))
    logging.getLogger("tidegate.test").debug("debug lines are on")
    await _query(tmp_path / "db.sqlite", "payload-1234")
    err = capsys.readouterr().err
    assert "debug lines are on" in err
    assert "payload-1234" not in err
    logging.getLogger("aiosqlite").setLevel(logging.NOTSET)  # uncapped, the parameter is printed
    await _query(tmp_path / "db.sqlite", "payload-5678")
    assert "payload-5678" in capsys.readouterr().err


async def test_request_urls_are_never_logged(capsys: pytest.CaptureFixture[str]) -> None:
    """A Slack webhook URL is a secret (config.md §2); httpx would log it at INFO."""
    configure_logging(LoggingSettings(level="debug"))
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post("https://hooks.example.com/services/T0/B0/secret-path")
        assert "secret-path" not in capsys.readouterr().err
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        await client.post("https://hooks.example.com/services/T0/B0/secret-path")
        assert "secret-path" in capsys.readouterr().err


def test_a_higher_level_still_applies_to_capped_loggers() -> None:
    configure_logging(LoggingSettings(level="error"))
    assert {name: logging.getLogger(name).level for name in CAPPED} == dict.fromkeys(CAPPED, logging.ERROR)
    configure_logging(LoggingSettings(level="debug"))
    assert [logging.getLogger(name).level for name in CAPPED] == [logging.INFO, logging.WARNING, logging.INFO]
