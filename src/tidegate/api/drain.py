"""End open streams when the server starts shutting down (stream.md §0.7).

uvicorn waits for open connections to finish before it runs the app's lifespan shutdown, and an event
stream never finishes by itself: without a notice, every stream would be held until the graceful timeout
and then cut off mid-body. uvicorn gives the app no such notice, so the lifespan chains the process's
SIGTERM/SIGINT handlers (uvicorn's own, installed before startup, whatever the worker count): on the
signal, ``drain`` is scheduled on the event loop, streams complete normally, and uvicorn's handler then
runs as before. Off the main thread (a server in a test thread) signals cannot be handled, and whoever
stops that server calls ``drain`` itself."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["DRAIN_SIGNALS", "drain_on_signal"]

DRAIN_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


@contextmanager
def drain_on_signal(drain: Callable[[], None]) -> Iterator[None]:
    """While the block runs, a shutdown signal first schedules ``drain`` on the running loop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, _Handler] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(drain)  # never run app code inside a signal handler
        chained = previous.get(signum)
        if callable(chained):
            chained(signum, frame)
        elif chained == signal.SIG_DFL:  # nobody else handles it: terminate, as without this handler
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for signum in DRAIN_SIGNALS:
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for number, chained in previous.items():
            if signal.getsignal(number) is handler:
                signal.signal(number, chained)
