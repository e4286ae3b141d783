"""Serve one benchmarked app: ``python bench/_serve.py tidegate|echo|fastapi|stream PORT DIR``.

Every app runs under the same uvicorn settings (one worker, uvloop, httptools, no access log, log level
warning), so the echo app is a fair baseline: its cost is uvicorn's plus one JSON parse and encode.
``fastapi`` is the same echo as a FastAPI route taking the raw ``Request`` (as Tidegate's dispatch route
does): the gap between the two is what FastAPI's routing costs before any Tidegate code runs.
``tidegate`` keeps its SQLite state and audit under ``DIR``. SIGTERM shuts down gracefully (the lifespan
flushes the audit store), which the audit row check relies on. ``stream`` is the stream benchmark's
server (``_stream_app.py``): Tidegate beside a bare broadcaster, with bench-only controls."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from _config import bench_settings, stream_settings
from _run import raise_open_files_limit

__all__ = ["echo_app", "echo_endpoint", "fastapi_echo_app", "main", "stream_app", "tidegate_app"]

USAGE = "usage: _serve.py tidegate|echo|fastapi|stream PORT DIR"


def tidegate_app(directory: Path) -> ASGIApp:
    """The app ``tidegate serve`` would run for the bench settings, with its logging set up the same way."""
    from tidegate.api.app import create_app
    from tidegate.cli import configure_logging

    settings = bench_settings(directory)
    configure_logging(settings.logging)
    return create_app(settings)


def stream_app(directory: Path) -> ASGIApp:
    """Tidegate on the stream settings, beside the bare broadcaster and the bench controls."""
    from _stream_app import stream_bench_app
    from tidegate.api.app import create_app
    from tidegate.cli import configure_logging

    settings = stream_settings(directory)
    configure_logging(settings.logging)
    raise_open_files_limit()
    return stream_bench_app(create_app(settings))


async def echo_endpoint(request: Request) -> Response:
    """Parse the JSON body and send it back."""
    return Response(orjson.dumps(orjson.loads(await request.body())), media_type="application/json")


def echo_app() -> ASGIApp:
    """The baseline: a bare Starlette app with one POST route."""
    logging.basicConfig(level=logging.WARNING)
    return Starlette(routes=[Route("/", echo_endpoint, methods=["POST"])])


def fastapi_echo_app() -> ASGIApp:
    """The same endpoint as a FastAPI route: FastAPI's own per-request cost, nothing of Tidegate's."""
    from fastapi import FastAPI

    logging.basicConfig(level=logging.WARNING)
    app = FastAPI()
    app.add_api_route("/", echo_endpoint, methods=["POST"], response_class=Response)
    return app


_APPS = {"echo": echo_app, "fastapi": fastapi_echo_app}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("tidegate", "stream", *_APPS) or not argv[1].isdigit():
        print(USAGE, file=sys.stderr)
        return 2
    kind, port, directory = argv[0], int(argv[1]), Path(argv[2])
    if kind in ("tidegate", "stream"):
        app = tidegate_app(directory) if kind == "tidegate" else stream_app(directory)
    else:
        app = _APPS[kind]()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        log_config=None,  # keep the handler set up above, as `tidegate serve` does
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
