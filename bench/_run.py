"""What every benchmark script does around its measurements: CPUs, progress lines, stopping cleanly.

Servers get the first CPU and load generators the second, so they never compete for a core. SIGTERM is
turned into ``KeyboardInterrupt``, so the ``with`` blocks that stop the servers and remove the temp files
run for it as they do for Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

__all__ = ["busy_load_average", "cpus", "handle_sigterm", "pinned", "progress", "raise_open_files_limit"]


def cpus() -> tuple[int | None, int | None]:
    """(server CPU, load generator CPU): one core each when there are two or more, else no pinning."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def pinned(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning the child to ``cpu`` (``None``: no pinning)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def progress(message: str) -> None:
    """Progress goes to stderr, so ``--json`` output on stdout stays one clean object."""
    print(message, file=sys.stderr, flush=True)


def busy_load_average() -> float:
    """The 1-minute load average at the start (0 where unknown): the report warns when it is high."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def handle_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the same finally blocks stop the servers and remove the files."""
    signal.signal(signal.SIGTERM, _interrupt)


def raise_open_files_limit() -> None:
    """Lift the soft open-files limit to the hard one: a thousand streams need a thousand sockets."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
