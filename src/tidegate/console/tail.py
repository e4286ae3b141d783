"""``tidegate tail``: follow ``/v1/stream`` through the SDK and print it.

Events go to stdout (coloured lines, or raw JSON with ``--json``); notices about gaps and reconnections go
to stderr, so ``--json`` output stays one JSON object per line for whatever reads it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

import orjson
from rich.console import Console

from tidegate.client import Client, ConnectionChange, Lagged, TidegateClientError
from tidegate.console.lines import connection_line, event_line, lagged_line
from tidegate.console.options import STREAM_FILTERS
from tidegate.console.target import target_of

__all__ = ["run_tail"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _consoles(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Console, Console]:
    plain = args.no_color or bool(environ.get("NO_COLOR"))
    forced = None if plain else (True if environ.get("FORCE_COLOR") else None)
    out = Console(no_color=plain, force_terminal=forced, highlight=False, soft_wrap=True)
    err = Console(stderr=True, no_color=plain, force_terminal=forced, highlight=False, soft_wrap=True)
    return out, err


def run_tail(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    target = target_of(args, environ)
    out, err = _consoles(args, environ)
    connections = 0

    def on_connection(change: ConnectionChange) -> None:
        nonlocal connections
        first = change.state == "connected" and connections == 0
        if change.state == "connected":
            connections += 1
        err.print(connection_line(change, target.url, first=first))

    filters = {name: getattr(args, name) for name in STREAM_FILTERS if getattr(args, name)}
    shown = 0
    try:
        with Client(target.url, api_key=target.api_key, token=target.token) as client:
            stream = client.stream(
                **filters,
                last_event_id=args.last_event_id,
                on_connection=on_connection,
                max_retries=args.max_retries,
            )
            for item in stream:
                if isinstance(item, Lagged):
                    err.print(lagged_line(item))
                    continue
                if args.json:
                    sys.stdout.write(orjson.dumps(item.to_json()).decode() + "\n")
                    sys.stdout.flush()
                else:
                    out.print(event_line(item))
                shown += 1
                if args.count is not None and shown >= args.count:
                    return EXIT_OK
    except TidegateClientError as exc:
        err.print(f"error: {exc}", style="bold red", markup=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK
