"""``tidegate dispatch``: send one action (or a batch) from an argument, a file or stdin; print the answer.

Exit status: 0 when the server answered with an outcome, 1 when it refused the request or could not be
reached, 2 for input that is not an action or a list of them, 3 when the outcome (or a batch item) failed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from tidegate.client import (
    APIError,
    BatchItem,
    Client,
    DispatchDone,
    DispatchResult,
    DispatchStreamEvent,
    HistoryEntry,
    TidegateClientError,
)
from tidegate.console.target import target_of
from tidegate.model.time import format_ts

__all__ = ["read_actions", "run_dispatch"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_OUTCOME_FAILED = 3


class InputError(Exception):
    pass


def read_actions(source: str, stdin: Any = None) -> dict[str, Any] | list[Any]:
    """The action object, or a list for a batch, from JSON text, ``@file`` or ``-`` (stdin)."""
    if source == "-":
        stream = stdin or sys.stdin
        if stream.isatty():
            raise InputError("no action given: pass it as an argument, @FILE, or pipe it to stdin")
        text = stream.read()
    elif source.startswith("@"):
        try:
            text = Path(source[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {source[1:]}: {exc.strerror}") from None
    else:
        text = source
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the action is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("actions"), list):
        data = data["actions"]
    if isinstance(data, list):
        if not all(isinstance(item, dict) for item in data):
            raise InputError("every item of a batch must be a JSON object")
        return data
    if not isinstance(data, dict):
        raise InputError("the action must be a JSON object (or a list of them for a batch)")
    return data


def _print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _batch(client: Client, actions: list[Any], dry_run: bool) -> int:
    items: list[BatchItem] = client.dispatch_batch(actions, dry_run=dry_run)
    results: list[object] = []
    failed = False
    for item in items:
        if item.result is not None:
            results.append({"status": "success", "outcome": item.result.to_json()})
            failed = failed or item.result.category == "failed"
        elif item.error is not None:
            error = {
                "code": item.error.code,
                "message": item.error.message,
                "retryable": item.error.retryable,
            }
            results.append({"status": "error", "error": error})
            failed = True
    _print_json({"results": results})
    return EXIT_OUTCOME_FAILED if failed else EXIT_OK


def _streamed(client: Client, action: dict[str, Any], args: argparse.Namespace) -> int:
    result: DispatchResult | None = None
    for item in client.dispatch_stream(action, dry_run=args.dry_run, follow=args.follow):
        if isinstance(item, DispatchStreamEvent):
            print(f"{format_ts(item.timestamp)}  {item.type:<17} {item.message}", file=sys.stderr)
        elif isinstance(item, HistoryEntry):
            print(f"{format_ts(item.timestamp)}  {item.type:<17} seq {item.seq}", file=sys.stderr)
        elif isinstance(item, DispatchDone):
            if item.result is None:
                error = item.error
                print(f"error: {error.code}: {error.message}" if error else "error", file=sys.stderr)
                return EXIT_FAILED
            result = item.result
    if result is None:
        return EXIT_FAILED
    _print_json(result.to_json())
    return EXIT_OUTCOME_FAILED if result.category == "failed" else EXIT_OK


def run_dispatch(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        actions = read_actions(args.action)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    target = target_of(args, environ)
    try:
        with Client(target.url, api_key=target.api_key, token=target.token) as client:
            if isinstance(actions, list):
                return _batch(client, actions, args.dry_run)
            if args.stream:
                return _streamed(client, actions, args)
            result = client.dispatch(actions, dry_run=args.dry_run)
    except APIError as exc:
        body = {"code": exc.code, "message": exc.message, "retryable": exc.retryable, "detail": exc.detail}
        print(f"error: {exc}", file=sys.stderr)
        sys.stderr.write(orjson.dumps({**body, "correlation_id": exc.correlation_id}).decode() + "\n")
        return EXIT_FAILED
    except TidegateClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_json(result.to_json())
    return EXIT_OUTCOME_FAILED if result.category == "failed" else EXIT_OK
