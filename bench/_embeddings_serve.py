"""Serve Tidegate with the local embedding model for ``embeddings.py``: ``_embeddings_serve.py PORT DIR``.

The same uvicorn settings as ``_serve.py``. The fixed 5-per-minute limit of the similarity route is
lifted in this process only (``RateLimiter`` built without route limits), otherwise the endpoint's
throughput would be 5 requests a minute; everything else is the production path."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import uvicorn

import tidegate.services
from _config import bench_settings
from tidegate.api.app import create_app
from tidegate.cli import configure_logging
from tidegate.config import Settings
from tidegate.security.rate_limiter import RateLimiter

__all__ = ["embedding_settings", "main"]


def embedding_settings(directory: Path) -> Settings:
    """The bench settings (memory state and audit) with the local embedding model switched on."""
    base = bench_settings(directory, "memory")
    return base.model_copy(update={"embedding": base.embedding.model_copy(update={"enabled": True})})


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: _embeddings_serve.py PORT DIR", file=sys.stderr)
        return 2
    settings = embedding_settings(Path(argv[1]))
    configure_logging(settings.logging)
    tidegate.services.RateLimiter = partial(RateLimiter, routes={})  # type: ignore[misc]
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=int(argv[0]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
