"""Command-line flags of ``tidegate tail`` and ``tidegate dispatch``, and where the server and key come from.

Flags win over environment variables (``TIDEGATE_URL``, ``TIDEGATE_API_KEY``, ``TIDEGATE_TOKEN``), which
win over the default URL (``target.py``); ``cli.py`` hands the environment in. Importing this module
loads no HTTP code, so every other command starts as fast as before."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tidegate.model.event import EventType
from tidegate.model.outcome import OUTCOME_CATEGORIES

__all__ = ["STREAM_FILTERS", "add_client_commands"]

#: ``GET /v1/stream``'s query parameters (stream.md §1.1), each a ``--flag`` of ``tail``.
STREAM_FILTERS = (
    "namespace",
    "tenant",
    "action_type",
    "outcome",
    "event_type",
    "chain_id",
    "group_id",
    "action_id",
)

Runner = Callable[[argparse.Namespace], int]


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--url", help="the server (default: TIDEGATE_URL, else http://127.0.0.1:8080)")
    group.add_argument("--api-key", metavar="KEY", help="API key (default: TIDEGATE_API_KEY)")
    group.add_argument("--token", metavar="JWT", help="bearer token from a login (default: TIDEGATE_TOKEN)")


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_client_commands(commands: argparse._SubParsersAction, tail: Runner, dispatch: Runner) -> None:  # type: ignore[type-arg]
    """Register ``tail`` and ``dispatch``; ``tail``/``dispatch`` are cli.py's handlers."""
    text = "follow the live event stream (/v1/stream), one coloured line per event"
    sub = commands.add_parser("tail", help=text, description=text)
    _connection_flags(sub)
    filters = sub.add_argument_group("filters (all given must match)")
    filters.add_argument("--namespace")
    filters.add_argument("--tenant")
    filters.add_argument("--action-type", dest="action_type")
    filters.add_argument("--outcome", choices=OUTCOME_CATEGORIES)
    filters.add_argument("--event-type", dest="event_type", choices=[t.value for t in EventType])
    filters.add_argument("--chain-id", dest="chain_id")
    filters.add_argument("--group-id", dest="group_id")
    filters.add_argument("--action-id", dest="action_id")
    sub.add_argument("--json", action="store_true", help="print each event's raw JSON, one per line")
    sub.add_argument("--last-event-id", metavar="ID", help="resume after this event (replays what followed)")
    sub.add_argument("-n", "--count", type=_count, metavar="N", help="exit after N events")
    sub.add_argument(
        "--max-retries", type=int, metavar="N", help="give up after N failed reconnections in a row"
    )
    sub.add_argument("--no-color", action="store_true", help="plain text (also when NO_COLOR is set)")
    sub.set_defaults(handler=tail)

    text = "dispatch one action (or a batch) and print the answer"
    sub = commands.add_parser(
        "dispatch",
        help=text,
        description=text + ". Exit status: 0 done, 1 refused or unreachable, 2 bad input, "
        "3 the outcome (or a batch item) failed.",
    )
    _connection_flags(sub)
    sub.add_argument(
        "action",
        nargs="?",
        default="-",
        metavar="ACTION",
        help="the action as JSON, @FILE to read it from a file, or - for stdin (the default); "
        'a JSON array or {"actions": [...]} is sent as a batch',
    )
    sub.add_argument("--dry-run", action="store_true", help="evaluate the rules only; nothing runs")
    sub.add_argument("--stream", action="store_true", help="show the dispatch's progress as it happens")
    sub.add_argument("--follow", action="store_true", help="with --stream: also follow a started chain")
    sub.set_defaults(handler=dispatch)
