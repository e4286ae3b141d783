"""Batch dispatch (api.md §3.4, D6): the body's shape, per-item errors, and bounded concurrent runs.

A bad item never fails the others: each item is checked (size, depth, schema) and dispatched on its own,
and every domain error becomes that item's ``{"status":"error","error":{...}}``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from tidegate.api.body import MAX_DEPTH, check_depth
from tidegate.api.errors import status_of
from tidegate.api.validation import failed
from tidegate.errors import PayloadTooLarge, TidegateError
from tidegate.model.json import JsonObject, JsonValue, dumps

__all__ = ["MAX_BATCH_ACTIONS", "batch_items", "check_item", "item_error", "run_bounded"]

log = logging.getLogger("tidegate.api")

MAX_BATCH_ACTIONS = 1000

_SHAPE = 'Input should be an array of actions or an object with an "actions" array'

T = TypeVar("T")
R = TypeVar("R")


def batch_items(body: JsonValue) -> list[JsonValue]:
    """The action list of ``{"actions":[...]}`` or of a bare array; 422 otherwise, 413 beyond 1000."""
    if isinstance(body, list):
        items = body
    elif isinstance(body, dict) and "actions" in body:
        actions = body["actions"]
        if not isinstance(actions, list):
            raise failed(
                [{"loc": ["body", "actions"], "msg": "Input should be a valid list", "type": "list_type"}]
            )
        items = actions
    elif isinstance(body, dict):
        raise failed([{"loc": ["body", "actions"], "msg": "Field required", "type": "missing"}])
    else:
        raise failed([{"loc": ["body"], "msg": _SHAPE, "type": "batch_type"}])
    if len(items) > MAX_BATCH_ACTIONS:
        raise PayloadTooLarge(f"batch size {len(items)} exceeds maximum of {MAX_BATCH_ACTIONS}")
    return items


def check_item(item: JsonValue, max_bytes: int) -> None:
    """Reject what a single dispatch would: over ``max_bytes`` serialized (413), nested too deep (422)."""
    if len(dumps(item)) > max_bytes:
        raise PayloadTooLarge(f"action exceeds the limit of {max_bytes} bytes")
    check_depth(item, loc=(), limit=MAX_DEPTH)


def item_error(exc: Exception, request_id: str) -> JsonObject:
    """``{"status":"error","error":{"code","message","retryable"}}``; a non-domain error is a logged bug."""
    if isinstance(exc, TidegateError) and status_of(exc) is not None:
        error: JsonObject = {"code": exc.code, "message": exc.message, "retryable": exc.retryable}
    else:
        log.error("internal error in a batch item (correlation_id=%s)", request_id, exc_info=exc)
        error = {"code": "internal_error", "message": "internal error", "retryable": False}
    return {"status": "error", "error": error}


async def run_bounded(items: Sequence[T], run: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """``run`` each item with at most ``limit`` in flight; results in input order.

    ``limit`` workers pull from one shared iterator (no task per item). ``run`` must not raise: a raising
    item would cancel the others through the task group."""
    results: list[R | None] = [None] * len(items)
    pending = iter(enumerate(items))

    async def worker() -> None:
        for index, item in pending:
            results[index] = await run(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(limit, len(items))):
            group.create_task(worker())
    return results  # type: ignore[return-value]
