"""The backend combinations ``backends.py`` measures, their settings, and the run's private namespace.

Every run gets one id: its Redis keys live under the key prefix ``bench_<id>`` and its PostgreSQL tables
in the schema ``tg_bench_<id>`` (selected through the URL's ``search_path``, so the stores and the event
log need nothing special). ``isolated`` creates the schema and, whatever happens, drops it and deletes the
keys afterwards. Redis and PostgreSQL are shared with other users: nothing outside that namespace is
touched."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
from redis.asyncio import Redis

from tidegate.config import Settings

__all__ = [
    "COMBOS",
    "HTTP_COMBO",
    "POSTGRES_URL",
    "REDIS_URL",
    "Combo",
    "Namespace",
    "combo_settings",
    "combo_values",
    "isolated",
    "new_namespace",
    "write_config",
]

REDIS_URL = "redis://127.0.0.1:6379"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

StateBackend = Literal["redis", "postgres", "sqlite", "memory"]
AuditBackend = Literal["postgres", "sqlite", "none"]


@dataclass(frozen=True, slots=True)
class Combo:
    """One row of the table: where state and the audit trail live, and the published figure to beat."""

    state: StateBackend
    audit: AuditBackend
    reference: float | None  # the published sequential actions/s for this combination, if any

    @property
    def name(self) -> str:
        return f"{self.state}/{self.audit}"

    @property
    def needs(self) -> frozenset[str]:
        """The network services this combination talks to (``redis``, ``postgres``)."""
        return frozenset({self.state, self.audit}) & {"redis", "postgres"}

    @property
    def target(self) -> float | None:
        return 2 * self.reference if self.reference is not None else None


COMBOS: tuple[Combo, ...] = (
    Combo("redis", "none", 2_000),
    Combo("redis", "postgres", 1_100),
    Combo("postgres", "postgres", 850),
    Combo("sqlite", "sqlite", None),
    Combo("memory", "none", None),
)
#: The combination served over HTTP.
HTTP_COMBO = COMBOS[1]


@dataclass(frozen=True, slots=True)
class Namespace:
    """Where one run keeps its data: a Redis key prefix and a PostgreSQL schema."""

    run_id: str
    redis_url: str
    postgres_url: str

    @property
    def key_prefix(self) -> str:
        return f"bench_{self.run_id}"

    @property
    def schema(self) -> str:
        return f"tg_bench_{self.run_id}"

    @property
    def scoped_postgres_url(self) -> str:
        """The PostgreSQL URL with the run's schema as ``search_path`` (asyncpg passes it to the server)."""
        parts = urlsplit(self.postgres_url)
        query = f"{parts.query}&" if parts.query else ""
        return urlunsplit(parts._replace(query=f"{query}search_path={self.schema}"))


def new_namespace(redis_url: str = REDIS_URL, postgres_url: str = POSTGRES_URL) -> Namespace:
    return Namespace(uuid.uuid4().hex[:12], redis_url, postgres_url)


def combo_values(
    combo: Combo, directory: Path, namespace: Namespace, *, audit_sync: bool = True
) -> dict[str, object]:
    """The configuration of ``combo`` as a plain mapping (also written as the HTTP server's config file).

    No rules (an empty directory) and the ``log`` provider at ``debug`` while logging stays at
    ``warning``, as in ``_config.py``. The stream section keeps its defaults, so the event log follows
    the state backend (redis or postgres) as in a deployment; ``stream_backend`` says which it is.
    ``audit_sync`` false answers before the audit record is committed (config.md ``audit.sync``)."""
    rules = directory / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    urls = {"redis": namespace.redis_url, "postgres": namespace.scoped_postgres_url}
    state: dict[str, object] = {
        "backend": combo.state,
        "path": str(directory / "state.db"),
        "key_prefix": namespace.key_prefix,
    }
    if combo.state in urls:
        state["url"] = urls[combo.state]
    audit: dict[str, object] = {
        "enabled": combo.audit != "none",
        "path": str(directory / "audit.db"),
        "sync": audit_sync,
    }
    if combo.audit != "none":
        audit["backend"] = combo.audit
    if combo.audit in urls:
        audit["url"] = urls[combo.audit]
    return {
        "state": state,
        "audit": audit,
        "rules": {"directory": str(rules)},
        "providers": [{"name": "log", "type": "log", "level": "debug"}],
        "logging": {"level": "warning"},
    }


def combo_settings(
    combo: Combo, directory: Path, namespace: Namespace, *, audit_sync: bool = True
) -> Settings:
    return Settings.model_validate(combo_values(combo, directory, namespace, audit_sync=audit_sync))


def write_config(path: Path, values: dict[str, object]) -> Path:
    """A config file ``tidegate serve --config`` reads (JSON is valid YAML)."""
    path.write_bytes(orjson.dumps(values, option=orjson.OPT_INDENT_2))
    return path


async def _create_schema(namespace: Namespace) -> None:
    conn = await asyncpg.connect(namespace.postgres_url, timeout=5)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace.schema}"')
    finally:
        await conn.close()


async def _drop_schema(namespace: Namespace) -> None:
    conn = await asyncpg.connect(namespace.postgres_url, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{namespace.schema}" CASCADE')
    finally:
        await conn.close()


async def _delete_keys(namespace: Namespace) -> int:
    client = Redis.from_url(namespace.redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace.key_prefix}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        await client.aclose()


@contextmanager
def isolated(namespace: Namespace, services: frozenset[str]) -> Iterator[Namespace]:
    """The run's schema exists inside the block; afterwards it is dropped and the run's keys deleted.

    ``services`` (``redis``, ``postgres``) are the ones the run uses; the others are never contacted."""
    if "postgres" in services:
        asyncio.run(_create_schema(namespace))
    try:
        yield namespace
    finally:
        if "redis" in services:
            asyncio.run(_delete_keys(namespace))
        if "postgres" in services:
            asyncio.run(_drop_schema(namespace))
