"""Where Tidegate's PostgreSQL tables live: ``"{schema}"."{prefix}_{table}"``, every identifier quoted.

The prefix is ``state.key_prefix`` (config.md §4.2), so several deployments can share one database. The
schema is optional: without it, names resolve through the connection's ``search_path``, which a URL can set
(``postgresql://host/db?search_path=tidegate``). Tests pass a fresh schema to isolate themselves. Both are
validated here, so quoting them can never be broken out of."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tidegate.errors import ConfigError

__all__ = ["TableNames"]

_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,32}")
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class TableNames:
    prefix: str = "tidegate"
    schema: str | None = None

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ConfigError([f"postgres: table prefix {self.prefix!r} must be 1-32 of A-Z a-z 0-9 _ -"])
        if self.schema is not None and not _SCHEMA.fullmatch(self.schema):
            raise ConfigError([f"postgres: schema {self.schema!r} must be an unquoted SQL identifier"])

    def table(self, name: str) -> str:
        """The quoted, schema-qualified name of a table (or sequence)."""
        own = f'"{self.prefix}_{name}"'
        return own if self.schema is None else f'"{self.schema}".{own}'

    def index(self, name: str) -> str:
        """The quoted name of an index; PostgreSQL puts it in its table's schema."""
        return f'"{self.prefix}_{name}"'

    @property
    def describe(self) -> str:
        """``tidegate_*`` or ``myschema.tidegate_*``, for messages."""
        return f"{self.prefix}_*" if self.schema is None else f"{self.schema}.{self.prefix}_*"
