"""``tidegate``: parse the command line, load ``Settings`` once, hand off (config.md §1).

Commands: ``serve``, ``check-config``, ``check-rules``, ``migrate``, ``hash-password``,
``generate-api-key``. Each exits 0 on success and 2 on any config or rules error, after printing every
problem to stderr, before anything is bound (``migrate`` exits 1 when a database does not answer). This
is the one module that reads ``os.environ``, and only to pass it to ``load_settings`` (or to the client
commands ``tail`` and ``dispatch``, which talk to a running server: ``tidegate.console``)."""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import logging
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import orjson

from tidegate.config import LoggingSettings, Settings, load_settings, render_settings
from tidegate.errors import BackendUnavailable, ConfigError
from tidegate.model.time import format_ts

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tidegate.rules import RuleSet

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "main", "worker_app"]

log = logging.getLogger("tidegate")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
MIN_PASSWORD_CHARS = 12
AUTH_WARNING = (
    "authentication is disabled and the server listens on {host}:{port}; anyone who can reach it has full "
    "admin rights (set auth.enabled = true)"
)

Handler = Callable[[argparse.Namespace], int]


# --- logging -------------------------------------------------------------------------------------------

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _context(record: logging.LogRecord) -> dict[str, object]:
    """The ``extra=`` fields of a record (request_id, action_id, tenant, ...)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": format_ts(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _context(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger>: <msg> key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ts = format_ts(datetime.fromtimestamp(record.created, UTC))
        line = f"{ts} {record.levelname} {record.name}: {record.getMessage()}"
        context = _context(record)
        if context:
            line += " " + " ".join(f"{k}={v}" for k, v in context.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


#: Libraries whose log lines carry request data, and the least level each may log at whatever
#: ``logging.level`` says (security.md §7): aiosqlite logs every call with its SQL parameters (action
#: payloads) at DEBUG; httpx logs every request's full URL (a Slack webhook URL is a secret) at INFO;
#: httpcore's DEBUG traces carry response headers.
_CAPPED_LOGGERS = {"aiosqlite": logging.INFO, "httpx": logging.WARNING, "httpcore": logging.INFO}


class _TidegateHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installs, so a second setup replaces it instead of adding one."""


def configure_logging(settings: LoggingSettings) -> None:
    """Route every logger (uvicorn's included) through one stderr handler with the configured format."""
    from tidegate.api.request_id import RequestIdFilter  # the HTTP layer loads only for commands that log

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _TidegateHandler):
            root.removeHandler(handler)
    handler = _TidegateHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    root.setLevel(level)
    for name, floor in _CAPPED_LOGGERS.items():
        logging.getLogger(name).setLevel(max(level, floor))


# --- commands ------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace, overrides: dict[str, object] | None = None) -> Settings | None:
    try:
        return load_settings(args.config, os.environ, overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _check_rules(settings: Settings, directory: Path) -> tuple[RuleSet | None, list[str]]:
    from tidegate.rules import check_rule_set, format_errors

    rules, errors = check_rule_set(
        directory,
        providers=frozenset(p.name for p in settings.providers),
        state_machines=frozenset(m.name for m in settings.state_machines),
        chains=frozenset(c.name for c in settings.chains.definitions),
        embedding_enabled=settings.embedding.enabled,
        default_timezone=settings.rules.default_timezone,
    )
    return rules, format_errors(errors)


def _embedding_problems(settings: Settings) -> list[str]:
    """The local model's package or files missing: reported before binding, like any config error."""
    embedding = settings.embedding
    if not embedding.enabled or embedding.provider != "local":
        return []
    from tidegate.embeddings.local import local_model_problems

    return local_model_problems(embedding.model)


def _print_threshold_warnings(settings: Settings, rules: RuleSet) -> None:
    """The warnings a rule load logs about unreachable ``semantic_match`` thresholds, on stderr."""
    if not settings.embedding.enabled:
        return
    from tidegate.embeddings.thresholds import default_threshold_warnings

    for warning in default_threshold_warnings(rules.rules, settings.embedding.provider):
        print(f"warning: {warning}", file=sys.stderr)


def _startup_warnings(settings: Settings) -> None:
    server = settings.server
    if not settings.auth.enabled and not server.is_loopback:
        message = AUTH_WARNING.format(host=server.host, port=server.port)
        print(message, file=sys.stderr)
        log.warning(message)
    if server.effective_external_url.startswith("http://") and not server.is_loopback:
        log.warning(
            "server.external_url %s is plain http while the server listens on %s; approval links would "
            "travel in clear (set server.external_url to the public https:// URL)",
            server.effective_external_url,
            server.host,
        )


def _auth_file_is_valid(settings: Settings) -> bool:
    """Check the auth file before binding, as the rules are: every problem printed, none quoting a value."""
    from tidegate.security import AuthFileError, load_identities

    try:
        load_identities(settings.auth.file)
    except AuthFileError as exc:
        for problem in exc.problems:
            print(f"auth.file {settings.auth.file}: {problem}", file=sys.stderr)
        return False
    return True


def _make_data_dirs(settings: Settings) -> None:
    """``./data`` is created for the SQLite files of the embedded default (config.md §3)."""
    paths = []
    if settings.state.backend == "sqlite":
        paths.append(settings.state.path)
    if settings.audit.enabled and settings.audit.backend == "sqlite":
        paths.append(settings.audit.path)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)


def _serve(args: argparse.Namespace) -> int:
    settings = _load(args, {"server.host": args.host, "server.port": args.port})
    if settings is None:
        return EXIT_INVALID
    if settings.rules.directory.is_dir():  # a missing directory only warns at startup (rules.md §1)
        _, errors = _check_rules(settings, settings.rules.directory)
        if errors:
            for line in errors:
                print(f"rules: {line}", file=sys.stderr)
            return EXIT_INVALID
    if settings.auth.enabled and not _auth_file_is_valid(settings):
        return EXIT_INVALID
    if _printed(_embedding_problems(settings)):
        return EXIT_INVALID
    configure_logging(settings.logging)
    _startup_warnings(settings)
    try:
        _make_data_dirs(settings)
    except OSError as exc:
        print(f"error: cannot create the data directory: {exc.strerror} ({exc.filename})", file=sys.stderr)
        return EXIT_FAILED
    _run_server(settings, args)
    return EXIT_OK


def _run_server(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    server = settings.server
    options: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": settings.logging.level,
        "log_config": None,  # keep the handler configure_logging installed
        "access_log": False,
        "timeout_graceful_shutdown": server.shutdown_timeout_seconds,
    }
    if server.workers == 1:
        from tidegate.api.app import create_app

        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    # Worker processes import the app by name and load the same config: hand them the flags through the
    # variables load_settings reads, which rank below flags anyway.
    if args.config:
        os.environ["TIDEGATE_CONFIG"] = str(Path(args.config).resolve())
    os.environ["TIDEGATE_SERVER__HOST"] = server.host
    os.environ["TIDEGATE_SERVER__PORT"] = str(server.port)
    uvicorn.run("tidegate.cli:worker_app", factory=True, workers=server.workers, **options)  # type: ignore[arg-type]


def worker_app() -> FastAPI:
    """The app of one worker process when ``server.workers`` > 1 (uvicorn calls this factory)."""
    from tidegate.api.app import create_app

    settings = load_settings(None, os.environ)
    configure_logging(settings.logging)
    return create_app(settings)


def _check_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return EXIT_INVALID
    if settings.auth.enabled and not _auth_file_is_valid(settings):  # what ``serve`` would refuse
        return EXIT_INVALID
    if _printed(_embedding_problems(settings)):
        return EXIT_INVALID
    if settings.embedding.enabled and settings.rules.directory.is_dir():
        rules, _ = _check_rules(settings, settings.rules.directory)  # errors are check-rules' business
        if rules is not None:
            _print_threshold_warnings(settings, rules)
    if args.show:
        sys.stdout.write(render_settings(settings, args.format))
    else:
        print("OK: configuration is valid")
    return EXIT_OK


def _check_rules_command(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return EXIT_INVALID
    directory = Path(args.directory) if args.directory else settings.rules.directory
    rules, errors = _check_rules(settings, directory)
    if rules is None:
        for line in errors:
            print(line, file=sys.stderr)
        return EXIT_INVALID
    from tidegate.rules import format_ok

    _print_threshold_warnings(settings, rules)
    print(format_ok(len(rules)))
    return EXIT_OK


def _printed(problems: list[str]) -> bool:
    """Print each problem on stderr; True when there was one."""
    for problem in problems:
        print(problem, file=sys.stderr)
    return bool(problems)


def _read_password() -> str | None:
    """From the terminal (asked twice) or the first line of stdin; never from argv."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            print("error: the passwords do not match", file=sys.stderr)
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _hash_password(args: argparse.Namespace) -> int:
    if _load(args) is None:
        return EXIT_INVALID
    password = _read_password()
    if password is None:
        return EXIT_FAILED
    if len(password) < MIN_PASSWORD_CHARS:
        print(f"error: a password needs at least {MIN_PASSWORD_CHARS} characters", file=sys.stderr)
        return EXIT_FAILED
    from argon2 import PasswordHasher

    print(PasswordHasher().hash(password))
    return EXIT_OK


def _generate_api_key(args: argparse.Namespace) -> int:
    if _load(args) is None:
        return EXIT_INVALID
    key = "tg_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    print(f"key:  {key}")
    print(f"hash: sha256:{hashlib.sha256(key.encode()).hexdigest()}")
    print("The key is shown only this once; store its hash in the auth file.", file=sys.stderr)
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    """Apply the PostgreSQL schema steps the configured backends need (the stores also do it on open)."""
    settings = _load(args)
    if settings is None:
        return EXIT_INVALID
    import asyncio

    from tidegate.postgres.targets import migration_targets, run_migrations

    targets = migration_targets(settings)
    if not targets:
        print("nothing to migrate: neither state.backend nor audit.backend is postgres")
        return EXIT_OK
    try:
        asyncio.run(run_migrations(targets, settings.state.operation_timeout_seconds, print))
    except BackendUnavailable as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _tail(args: argparse.Namespace) -> int:
    from tidegate.console.tail import run_tail

    return run_tail(args, os.environ)


def _dispatch(args: argparse.Namespace) -> int:
    from tidegate.console.dispatch import run_dispatch

    return run_dispatch(args, os.environ)


# --- argument parsing ----------------------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer between 1 and 65535 (got {text!r})") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer between 1 and 65535 (got {value})")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidegate", description="An action gateway with rules, audit and streams."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config", metavar="PATH", help="config file (default: TIDEGATE_CONFIG, ./tidegate.toml)"
        )
        sub.set_defaults(handler=handler)
        return sub

    serve = command("serve", _serve, "run the server")
    serve.add_argument("--host", help="bind address (overrides server.host)")
    serve.add_argument("--port", type=_port, help="port (overrides server.port)")
    check = command("check-config", _check_config, "validate the configuration")
    check.add_argument("--show", action="store_true", help="print the effective config, secrets masked")
    check.add_argument("--format", choices=("yaml", "json"), default="yaml", help="format of --show")
    rules = command("check-rules", _check_rules_command, "validate a rules directory")
    rules.add_argument(
        "directory", nargs="?", metavar="DIR", help="rules directory (default: rules.directory)"
    )
    command("migrate", _migrate, "apply the PostgreSQL schema migrations of the configured backends")
    command("hash-password", _hash_password, "print an argon2id hash of a password read from the terminal")
    command("generate-api-key", _generate_api_key, "print a new API key and its hash")
    from tidegate.console import add_client_commands

    add_client_commands(commands, _tail, _dispatch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_INVALID
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        return EXIT_INVALID
    return handler(args)
