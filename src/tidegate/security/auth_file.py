"""Read and validate the auth file (security.md §2) into ``Identities``; keep the current one for reloads.

The whole file is validated and every problem is reported, each naming its place (``users[1].role``)
and never quoting a value: hashes and names stay out of logs. YAML or TOML is chosen by the extension
(``.toml`` is TOML, anything else YAML). ``AuthFile.reload`` swaps in a new index only when the file is
valid; otherwise the previous identities stay and each problem is logged once at ERROR."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from tidegate.errors import ConfigError
from tidegate.model.caller import Grant, Role
from tidegate.security.identities import ApiKey, Identities, User, parse_key_hash

__all__ = ["AuthFile", "AuthFileError", "load_identities", "parse_identities"]

log = logging.getLogger(__name__)

_IDENTIFIER = r"^[A-Za-z0-9._:-]{1,256}$"
_PATTERN = r"^(\*|[A-Za-z0-9._:-]{1,256})$"

Pattern = Annotated[str, Field(pattern=_PATTERN)]
Patterns = Annotated[list[Pattern], Field(min_length=1)]
_ANY: list[str] = ["*"]


class AuthFileError(Exception):
    """The file is invalid; ``problems`` lists every problem, each naming the key it is about."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def _argon2id(value: str) -> str:
    try:
        parameters = extract_parameters(value)
    except (InvalidHashError, ValueError):
        raise ValueError("must be an argon2id PHC string (tidegate hash-password)") from None
    if parameters.type is not Type.ID:
        raise ValueError("must be an argon2id hash, not argon2i or argon2d")
    return value


def _key_hash(value: str) -> str:
    if parse_key_hash(value) is None:
        raise ValueError("must be sha256:<64 hex digits> or 64 lowercase hex digits (generate-api-key)")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must be a timestamp with a time zone offset (e.g. 2027-01-01T00:00:00Z)")
    return value


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _GrantEntry(_Entry):
    tenants: Patterns
    namespaces: Patterns = Field(default_factory=lambda: list(_ANY))
    providers: Patterns = Field(default_factory=lambda: list(_ANY))
    action_types: Patterns = Field(
        default_factory=lambda: list(_ANY), validation_alias=AliasChoices("action_types", "actions")
    )

    def grant(self) -> Grant:
        return Grant(
            tuple(self.tenants), tuple(self.namespaces), tuple(self.providers), tuple(self.action_types)
        )


class _Principal(_Entry):
    role: Literal["admin", "operator", "viewer"]
    grants: list[_GrantEntry] = Field(default_factory=list)

    def resolved_grants(self) -> tuple[Grant, ...]:
        """As given; without a ``grants`` key an admin holds one wildcard grant, other roles none."""
        if "grants" not in self.model_fields_set:
            return (Grant(),) if self.role == "admin" else ()
        return tuple(entry.grant() for entry in self.grants)


class _UserEntry(_Principal):
    username: Annotated[str, Field(min_length=1, max_length=256)]
    password_hash: Annotated[str, AfterValidator(_argon2id)]


class _KeyEntry(_Principal):
    name: Annotated[str, Field(pattern=_IDENTIFIER)]
    key_hash: Annotated[str, AfterValidator(_key_hash)]
    expires_at: Annotated[datetime, AfterValidator(_aware)] | None = None


class _AuthFileModel(_Entry):
    users: list[_UserEntry] = Field(default_factory=list)
    api_keys: list[_KeyEntry] = Field(default_factory=list)


def _where(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _problems(exc: ValidationError) -> list[str]:
    """One line per error: where, then pydantic's rule text. ``input`` is never used (it may be a hash)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{_where(error['loc'])}: {message}")
    return lines


def _entries(data: dict[object, object], section: str) -> list[dict[object, object]]:
    entries = data.get(section)
    if not isinstance(entries, list):
        return []
    return [entry if isinstance(entry, dict) else {} for entry in entries]


def _cross_checks(data: dict[object, object]) -> list[str]:
    """Unique usernames, key names and key hashes; a key name never equals a username (caller ids).

    Runs on the raw mapping, so these problems are reported together with the schema's."""
    problems = []
    usernames: set[str] = set()
    for index, user in enumerate(_entries(data, "users")):
        username = user.get("username")
        if not isinstance(username, str):
            continue  # the schema reports it
        if username in usernames:
            problems.append(f"users[{index}].username: duplicate username")
        usernames.add(username)
    names: set[str] = set()
    digests: set[bytes] = set()
    for index, key in enumerate(_entries(data, "api_keys")):
        name = key.get("name")
        if isinstance(name, str) and name in names:
            problems.append(f"api_keys[{index}].name: duplicate key name")
        elif isinstance(name, str) and name in usernames:
            problems.append(f"api_keys[{index}].name: equals a username (caller ids must be unambiguous)")
        if isinstance(name, str):
            names.add(name)
        key_hash = key.get("key_hash")
        digest = parse_key_hash(key_hash) if isinstance(key_hash, str) else None
        if digest is not None and digest in digests:
            problems.append(f"api_keys[{index}].key_hash: the same key hash is listed twice")
        if digest is not None:
            digests.add(digest)
    return problems


def parse_identities(data: object) -> Identities:
    """Validate the file's parsed content; raises AuthFileError listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AuthFileError(["(top level): must be a mapping with users and api_keys"])
    problems = []
    model = None
    try:
        model = _AuthFileModel.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
    problems.extend(_cross_checks(data))
    if problems or model is None:
        raise AuthFileError(problems)
    users = [
        User(entry.username, entry.password_hash, Role(entry.role), entry.resolved_grants())
        for entry in model.users
    ]
    keys = []
    for entry in model.api_keys:
        digest = parse_key_hash(entry.key_hash)
        assert digest is not None  # validated above
        keys.append(ApiKey(entry.name, digest, Role(entry.role), entry.resolved_grants(), entry.expires_at))
    return Identities(users, keys)


def _read(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthFileError(["the file does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise AuthFileError([f"cannot read the file: {reason}"]) from None
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AuthFileError([f"invalid TOML: {exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AuthFileError([_yaml_problem(exc)]) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Line and column and the parser's reason, without the snippet of the file PyYAML would quote."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def load_identities(path: Path) -> Identities:
    """Read, parse and validate ``path``; raises AuthFileError."""
    return parse_identities(_read(path))


class AuthFile:
    """The identities in force; ``current`` is swapped whole by a successful ``reload``."""

    def __init__(self, path: Path, identities: Identities) -> None:
        self.path = path
        self.current = identities

    @classmethod
    def open(cls, path: Path) -> AuthFile:
        """Load at startup: an invalid file stops the server (ConfigError names every problem)."""
        try:
            return cls(path, load_identities(path))
        except AuthFileError as exc:
            raise ConfigError([f"auth.file {path}: {problem}" for problem in exc.problems]) from None

    def reload(self) -> bool:
        """Apply the file as it is now; on any problem keep the previous identities and log why."""
        try:
            identities = load_identities(self.path)
        except AuthFileError as exc:
            for problem in exc.problems:
                log.error("auth file %s: %s (the previous users and keys stay in force)", self.path, problem)
            return False
        self.current = identities
        log.info(
            "auth file %s reloaded: %d users, %d API keys",
            self.path,
            identities.user_count,
            identities.key_count,
        )
        return True
