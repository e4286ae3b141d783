"""The three stream implementations and the stream server's bench-only controls, from the client side.

``bare`` is ``_bare.py``; ``tidegate`` is ``GET /v1/stream`` on ``SseResponse``; ``sse-starlette`` is the same
route on sse-starlette's ``EventSourceResponse``. Both Tidegate columns read Tidegate's event log."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import orjson

from _publisher import PublishReport
from _server import Server

__all__ = [
    "IMPLEMENTATIONS",
    "Implementation",
    "PublishReport",
    "QueueState",
    "prepare",
    "publish",
    "queue_state",
    "stream_path",
    "wait_for_subscribers",
]

Implementation = Literal["bare", "tidegate", "sse-starlette"]
#: Measured in this order at every step; ratios are against ``bare``.
IMPLEMENTATIONS: tuple[Implementation, ...] = ("bare", "tidegate", "sse-starlette")

_WAIT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class QueueState:
    """An implementation's subscribers and the frames queued for each of them."""

    subscribers: int
    queued: tuple[int, ...]
    dropped: int | None  # Tidegate's broadcaster counts what full queues dropped; the bare one never drops
    capacity: int | None  # Tidegate's per-subscriber queue bound; the bare queues have none


def stream_path(implementation: Implementation) -> str:
    return "/bare/stream" if implementation == "bare" else "/v1/stream"


def _target(implementation: Implementation) -> str:
    return "bare" if implementation == "bare" else "tidegate"


def _post(server: Server, path: str, body: object, timeout: float = 5.0) -> object:
    status, answer = server.request("POST", path, orjson.dumps(body), timeout=timeout)
    if status != 200:
        raise RuntimeError(f"POST {path} answered {status}: {answer[:200]!r}")
    return orjson.loads(answer)


def prepare(server: Server, implementation: Implementation) -> None:
    """Make the streams opened next use ``implementation`` (``/v1/stream``'s response factory)."""
    if implementation != "bare":
        _post(server, "/bench/factory", {"name": implementation})


def publish(
    server: Server, implementation: Implementation, *, rate: float, warmup: float, seconds: float, tag: int
) -> PublishReport:
    """Run the server's publisher to completion (blocks for ``warmup + seconds`` or longer when late)."""
    body = {"target": _target(implementation), "rate": rate, "warmup": warmup, "seconds": seconds, "tag": tag}
    answer = _post(server, "/bench/publish", body, timeout=warmup + seconds + 120)
    assert isinstance(answer, dict)
    return PublishReport(
        warmup=int(answer["warmup"]),
        measured=int(answer["measured"]),
        seconds=float(answer["seconds"]),
        late_p99_ms=float(answer["late_p99_ms"]),
        late_max_ms=float(answer["late_max_ms"]),
    )


def queue_state(server: Server, implementation: Implementation) -> QueueState:
    state = server.get_json("/bench/state")
    assert isinstance(state, dict)
    if implementation == "bare":
        bare = state["bare"]
        return QueueState(bare["subscribers"], tuple(bare["queued"]), dropped=None, capacity=None)
    ours = state["tidegate"]
    return QueueState(
        ours["subscribers"], tuple(ours["queued"]), dropped=ours["dropped"], capacity=ours["queue_size"]
    )


def wait_for_subscribers(server: Server, implementation: Implementation, count: int) -> None:
    """Until the server holds exactly ``count`` subscribers of ``implementation`` (streams open or closed)."""
    deadline = time.monotonic() + _WAIT_SECONDS
    while (current := queue_state(server, implementation).subscribers) != count:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{implementation}: {current} subscribers after {_WAIT_SECONDS:.0f} s, not {count}"
            )
        time.sleep(0.05)
