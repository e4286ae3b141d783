"""Building blocks shared by every settings section: the strict base model, value types, problems.

Validators raise ``Problem``/``Problems`` for rules that span keys (the message names its own key path and
never quotes a value), ``WrongType`` when a value has the wrong type (the message is then derived from the
field's declared rule), and a plain ``ValueError`` whose text is the rule a single value breaks (the message
then quotes the value, unless the field is a secret)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

__all__ = [
    "MASK",
    "BaseDir",
    "ConfigModel",
    "Float",
    "Identifier",
    "Int",
    "Problem",
    "Problems",
    "ResolvedPath",
    "Rule",
    "WrongType",
    "check_http_url",
    "mask_url",
]

MASK = "**********"

Key = tuple[str | int, ...]


class ConfigModel(BaseModel):
    """Frozen and strict about keys: a typo anywhere in the file is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Rule:
    """Annotation metadata: the rule a value breaks, as error messages print it (``must be ...``)."""

    text: str


class Problem(ValueError):
    """A problem at ``key``, a path relative to the model whose validator raised it."""

    def __init__(self, message: str, key: Key = ()) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


class Problems(ValueError):
    """Several problems found by one validator, reported together."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class WrongType(ValueError):
    """The value has the wrong type; the message is the field's declared rule."""


@dataclass(frozen=True, slots=True)
class BaseDir:
    """Validation context: the directory relative paths are resolved against (the config file's)."""

    path: Path


def _reject_bool(value: object) -> object:
    # pydantic's lax mode reads true as 1; a boolean where a number belongs is a mistake in a config file.
    if isinstance(value, bool):
        raise WrongType("bool")
    return value


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    if value.is_absolute():
        return value
    context = info.context
    base = context.path if isinstance(context, BaseDir) else Path.cwd()
    return base / value


Int = Annotated[int, BeforeValidator(_reject_bool)]
Float = Annotated[float, BeforeValidator(_reject_bool)]
Identifier = Annotated[
    str,
    Rule("must be an identifier (1-256 characters of A-Z a-z 0-9 . _ : -)"),
    Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:-]+$"),
]
ResolvedPath = Annotated[Path, Rule("must be a path"), AfterValidator(_resolve_path)]


#: Query parameters whose value is a credential (``?api_key=...``, ``?access_token=...``, ``?sig=...``),
#: matched by these fragments of the lowercased name.
_SECRET_PARAMS = ("key", "token", "secret", "password", "passwd", "pwd", "auth", "sig", "credential")


def mask_url(text: str) -> str:
    """A URL with its password (``scheme://user:**********@host``) and the values of credential-like
    query parameters (``?api_key=**********``) masked; anything else unchanged."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if found != -1:
            end = min(end, found)
    authority, tail = rest[:end], _mask_query(rest[end:])
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return f"{scheme}://{authority}{tail}"
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{host}{tail}"


def _mask_query(tail: str) -> str:
    """``tail`` (path, query, fragment) with credential-like query values masked, byte for byte otherwise."""
    before, question, after = tail.partition("?")
    if not question:
        return tail
    query, hash_, fragment = after.partition("#")
    params = []
    for param in query.split("&"):
        name, equals, value = param.partition("=")
        if equals and value and any(part in name.lower() for part in _SECRET_PARAMS):
            param = f"{name}={MASK}"
        params.append(param)
    return f"{before}?{'&'.join(params)}{hash_}{fragment}"


def check_http_url(text: str, *, schemes: tuple[str, ...] = ("http", "https"), query: bool = True) -> str:
    """Raise ValueError unless ``text`` is an absolute URL with one of ``schemes`` and a host."""
    wanted = " or ".join(schemes)
    rule = f"must be an absolute {wanted} URL" + ("" if query else " without query or fragment")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(rule) from None
    if parts.scheme.lower() not in schemes or not host:
        raise ValueError(rule)
    if not query and (parts.query or parts.fragment or "?" in text or "#" in text):
        raise ValueError(rule)
    return text
