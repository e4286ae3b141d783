"""The ``tidegate`` command line, run in-process: exit codes, output, and what ``serve`` hands to uvicorn."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from argon2 import PasswordHasher

import tidegate.api.app
from tidegate import cli
from tidegate.cli import AUTH_WARNING, JsonFormatter, TextFormatter, configure_logging, main
from tidegate.config import LoggingSettings, Settings

RULE = """\
rules:
  - name: r1
    condition: {field: action.action_type, eq: spam}
    action: {type: suppress}
"""
BAD_RULE = (
    "rules:\n  - name: r1\n    condition: {field: action.action_type, eq: spam}\n    action: {type: nope}\n"
)


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory, no TIDEGATE_* variables, and the root logger restored afterwards."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("TIDEGATE_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    root.handlers[:] = handlers
    root.setLevel(level)


class FakeUvicorn:
    def __init__(self) -> None:
        self.calls: list[tuple[object, dict[str, object]]] = []

    def run(self, app: object, **options: object) -> None:
        self.calls.append((app, options))


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> FakeUvicorn:
    fake = FakeUvicorn()
    monkeypatch.setattr("uvicorn.run", fake.run)
    built: list[Settings] = []

    def create_app(settings: Settings) -> object:
        built.append(settings)
        return ("app", settings)

    monkeypatch.setattr(tidegate.api.app, "create_app", create_app)
    return fake


# --- check-config ----------------------------------------------------------------------------------------


def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out == "OK: configuration is valid\n"


def test_check_config_lists_every_problem_on_stderr_and_exits_2(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / "tidegate.yaml").write_text("server: {prot: 1, port: abc}\nauth: {jwt_secret: tooshort}\n")
    assert main(["check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "config: server.port: must be an integer between 1 and 65535 (got 'abc')",
        "config: unknown key 'server.prot' (did you mean 'server.port'?)",
        "config: auth.jwt_secret: must be at least 32 bytes",
    ]
    assert "tooshort" not in captured.err


def test_a_missing_config_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", "nope.toml"]) == 2
    assert capsys.readouterr().err == "config: file not found: nope.toml\n"


def test_check_config_show_masks_secrets(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = clean / "conf.toml"
    config.write_text(
        '[auth]\njwt_secret = "${JWT}"\n[state]\nbackend = "redis"\nurl = "redis://:pw-1@r:6379/0"\n'
    )
    monkeypatch.setenv("JWT", "x" * 40)
    monkeypatch.setenv("TIDEGATE_SERVER__PORT", "9999")
    assert main(["check-config", "--config", str(config), "--show"]) == 0
    out = capsys.readouterr().out
    assert "x" * 40 not in out and "pw-1" not in out
    data = yaml.safe_load(out)
    assert data["auth"]["jwt_secret"] == "**********"
    assert data["state"]["url"] == "redis://:**********@r:6379/0"
    assert data["server"]["port"] == 9999  # the process environment is read


def test_check_config_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--show", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["server"]["host"] == "127.0.0.1"


# --- check-rules -----------------------------------------------------------------------------------------


def test_check_rules_ok(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (clean / "rules").mkdir()
    (clean / "rules" / "10-basic.yaml").write_text(RULE)
    assert main(["check-rules"]) == 0
    assert capsys.readouterr().out == "OK: 1 rules\n"


def test_check_rules_reports_each_error_and_exits_2(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (clean / "other").mkdir()
    (clean / "other" / "a.yaml").write_text(BAD_RULE)
    assert main(["check-rules", "other"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "a.yaml: rule 'r1': action.type: unknown action type 'nope'"
    )


def test_check_rules_checks_providers_against_the_config(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = clean / "rules"
    rules.mkdir()
    reroute = (
        "rules:\n  - name: r\n    condition: {all: []}\n    action: {type: reroute, target_provider: sms}\n"
    )
    (rules / "r.yaml").write_text(reroute)
    assert main(["check-rules"]) == 2
    assert "unknown provider 'sms'" in capsys.readouterr().err
    (clean / "tidegate.yaml").write_text("providers: [{name: sms, type: log}]\n")
    assert main(["check-rules"]) == 0


def test_check_rules_with_a_missing_directory_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-rules", "nowhere"]) == 2
    assert capsys.readouterr().err != ""


def test_check_rules_with_a_config_error_exits_2(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (clean / "tidegate.toml").write_text("[server]\nport = 0\n")
    assert main(["check-rules"]) == 2
    assert "server.port" in capsys.readouterr().err


# --- serve -----------------------------------------------------------------------------------------------


def test_serve_runs_uvicorn_with_the_settings(clean: Path, uvicorn_run: FakeUvicorn) -> None:
    (clean / "tidegate.toml").write_text(
        '[server]\nhost = "127.0.0.2"\nport = 9001\nshutdown_timeout_seconds = 7\n'
    )
    assert main(["serve", "--port", "9100"]) == 0
    ((app, options),) = uvicorn_run.calls
    assert isinstance(app, tuple) and app[0] == "app"
    settings = app[1]
    assert isinstance(settings, Settings) and settings.server.port == 9100
    assert options == {
        "host": "127.0.0.2",
        "port": 9100,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": "info",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 7,
    }
    assert (clean / "data").is_dir()  # the SQLite files' directory exists before the stores open


def test_serve_host_flag_overrides_the_environment(
    uvicorn_run: FakeUvicorn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEGATE_SERVER__HOST", "127.0.0.3")
    monkeypatch.setenv("TIDEGATE_LOGGING__LEVEL", "warning")
    assert main(["serve", "--host", "127.0.0.4"]) == 0
    options = uvicorn_run.calls[0][1]
    assert (options["host"], options["port"], options["log_level"]) == ("127.0.0.4", 8080, "warning")


def test_serve_with_a_config_error_binds_nothing(
    clean: Path, uvicorn_run: FakeUvicorn, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / "tidegate.yaml").write_text("server: {workers: 2}\n")
    assert main(["serve"]) == 2
    assert uvicorn_run.calls == []
    assert "server.workers" in capsys.readouterr().err
    assert not (clean / "data").exists()


def test_serve_with_rule_errors_binds_nothing(
    clean: Path, uvicorn_run: FakeUvicorn, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / "rules").mkdir()
    (clean / "rules" / "a.yaml").write_text(BAD_RULE)
    assert main(["serve"]) == 2
    assert uvicorn_run.calls == []
    assert capsys.readouterr().err.startswith("rules: a.yaml: rule 'r1': action.type: unknown action type")


def test_serve_without_a_rules_directory_starts(uvicorn_run: FakeUvicorn) -> None:
    assert main(["serve"]) == 0
    assert len(uvicorn_run.calls) == 1


def test_serve_warns_when_auth_is_off_on_a_public_address(
    uvicorn_run: FakeUvicorn, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--host", "0.0.0.0", "--port", "9000"]) == 0
    message = (
        "authentication is disabled and the server listens on 0.0.0.0:9000; anyone who can reach it has full "
        "admin rights (set auth.enabled = true)"
    )
    assert AUTH_WARNING.format(host="0.0.0.0", port=9000) == message
    assert message in capsys.readouterr().err.splitlines()
    assert message in [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("approval links would travel in clear" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_serve_on_loopback_does_not_warn(
    host: str, uvicorn_run: FakeUvicorn, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--host", host]) == 0
    assert "authentication is disabled" not in capsys.readouterr().err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_serve_with_several_workers_hands_the_flags_to_the_worker_processes(
    clean: Path, uvicorn_run: FakeUvicorn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TIDEGATE_CONFIG", "TIDEGATE_SERVER__HOST", "TIDEGATE_SERVER__PORT"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    config = clean / "cluster.yaml"
    config.write_text(
        "server: {workers: 3}\n"
        "state: {backend: redis, url: 'redis://r:6379/0'}\n"
        "audit: {backend: postgres, url: 'postgresql://u:p@pg/db'}\n"
    )
    assert main(["serve", "--config", "cluster.yaml", "--port", "9200"]) == 0
    ((app, options),) = uvicorn_run.calls
    assert app == "tidegate.cli:worker_app"
    assert (options["factory"], options["workers"], options["port"]) == (True, 3, 9200)
    assert os.environ["TIDEGATE_CONFIG"] == str(config)
    assert os.environ["TIDEGATE_SERVER__PORT"] == "9200"
    assert os.environ["TIDEGATE_SERVER__HOST"] == "127.0.0.1"
    app_object = cli.worker_app()  # what each worker process calls
    assert isinstance(app_object, tuple)
    settings = app_object[1]
    assert isinstance(settings, Settings)
    assert (settings.server.workers, settings.server.port) == (3, 9200)


def test_invalid_port_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "70000"]) == 2
    assert "must be an integer between 1 and 65535 (got 70000)" in capsys.readouterr().err
    assert main(["serve", "--port", "http"]) == 2


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr().err.startswith("usage: tidegate")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "check-config" in capsys.readouterr().out


# --- logging ---------------------------------------------------------------------------------------------


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("tidegate.pipeline", logging.INFO, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_log_lines() -> None:
    line = JsonFormatter().format(record("dispatched", request_id="r-1", action_id="a-1", tenant="t"))
    data = json.loads(line)
    assert list(data)[:4] == ["ts", "level", "logger", "msg"]
    assert (data["level"], data["logger"], data["msg"]) == ("info", "tidegate.pipeline", "dispatched")
    assert (data["request_id"], data["action_id"], data["tenant"]) == ("r-1", "a-1", "t")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", data["ts"])
    assert "\n" not in line


def test_json_log_lines_carry_exceptions() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    data = json.loads(JsonFormatter().format(rec))
    assert "RuntimeError: boom" in data["exc"]


def test_text_log_lines() -> None:
    line = TextFormatter().format(record("dispatched", action_id="a-1"))
    assert re.fullmatch(r"\S+Z INFO tidegate\.pipeline: dispatched action_id=a-1", line)


def test_configure_logging_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(format="json", level="debug"))
    configure_logging(LoggingSettings(format="json", level="warning"))
    root = logging.getLogger()
    assert root.level == logging.WARNING
    logging.getLogger("tidegate.test").warning("hello", extra={"tenant": "t1"})
    logging.getLogger("tidegate.test").info("hidden")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(x)["msg"] for x in lines] == ["hello"]
    assert json.loads(lines[0])["tenant"] == "t1"


# --- hash-password and generate-api-key ------------------------------------------------------------------


def test_hash_password_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["hash-password"]) == 0
    hashed = capsys.readouterr().out.strip()
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, "correct horse battery")


def test_hash_password_refuses_short_passwords(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["hash-password"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "at least 12 characters" in captured.err


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_hash_password_asks_twice_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["a long password!", "a different one!"])
    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["hash-password"]) == 1
    assert "do not match" in capsys.readouterr().err


def test_generate_api_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate-api-key"]) == 0
    key_line, hash_line = capsys.readouterr().out.splitlines()
    key = key_line.removeprefix("key:").strip()
    assert re.fullmatch(r"tg_[A-Za-z0-9_-]{43}", key)
    assert hash_line.removeprefix("hash:").strip() == "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def test_every_command_exits_2_on_a_config_error(clean: Path) -> None:
    (clean / "tidegate.yaml").write_text("bogus: 1\n")
    for command in (["check-config"], ["check-rules"], ["hash-password"], ["generate-api-key"], ["serve"]):
        assert main(command) == 2


def test_log_lines_written_during_a_request_carry_its_id(capsys: pytest.CaptureFixture[str]) -> None:
    from tidegate.api.request_id import REQUEST_ID

    configure_logging(LoggingSettings(format="json", level="info"))
    token = REQUEST_ID.set("req-42")
    try:
        logging.getLogger("tidegate.test").info("inside")
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("tidegate.test").info("outside")
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines()[-2:])
    assert inside["request_id"] == "req-42"
    assert "request_id" not in outside
