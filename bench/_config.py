"""The Tidegate settings and the action every benchmark run uses.

The embedded default (``Settings()``) with its files under a temp dir, no rules (an empty rules directory)
and the ``log`` provider at ``debug`` while logging stays at ``warning``: the provider then costs one
``isEnabledFor`` check, so the figures measure Tidegate, not a log handler."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tidegate.config import Settings
from tidegate.model.json import JsonObject

__all__ = ["DISPATCH_BODY", "Backend", "bench_settings", "stream_settings"]

#: The body of every benchmarked dispatch (the server fills in id and created_at).
DISPATCH_BODY: JsonObject = {
    "namespace": "bench",
    "tenant": "t1",
    "provider": "log",
    "action_type": "ping",
    "payload": {"n": 1},
}

Backend = Literal["memory", "sqlite"]


def bench_settings(directory: Path, backend: Backend = "sqlite") -> Settings:
    """Settings keeping every file under ``directory`` (created, with an empty ``rules`` directory).

    ``sqlite`` is the embedded default (state and audit in SQLite files); ``memory`` keeps both in memory.
    Paths are set for ``memory`` too, so nothing (the audit spool included) can land in ``./data``."""
    return Settings.model_validate(_settings(directory, backend))


def stream_settings(directory: Path) -> Settings:
    """The stream benchmark's settings: the defaults of the ``stream`` section (queue of 1,024 events,
    15 s keep-alive, replay window of 10,000 events), memory state (its events come from a publisher,
    not from dispatches) and no connection limit, so one anonymous client may open 1,000 streams."""
    values = _settings(directory, "memory")
    values["server"] = {"max_sse_connections_per_tenant": 0}
    return Settings.model_validate(values)


def _settings(directory: Path, backend: Backend) -> dict[str, object]:
    rules = directory / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    return {
        "state": {"backend": backend, "path": str(directory / "state.db")},
        "audit": {"backend": backend, "path": str(directory / "audit.db")},
        "rules": {"directory": str(rules)},
        "providers": [
            {"name": "log", "type": "log", "level": "debug"},
            {"name": "webhook", "type": "webhook"},
        ],
        "logging": {"level": "warning"},
    }
