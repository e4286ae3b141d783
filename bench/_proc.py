"""A child process's CPU time and memory, read from /proc (``None`` where /proc does not exist)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "memory_kib"]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid``, all its threads.

    Unlike a request or delivery rate, CPU per unit of work barely changes when other processes share
    the core."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state is field 3, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int, field: str = "VmRSS") -> int | None:
    """A ``/proc/<pid>/status`` figure in KiB: ``VmRSS`` (resident now) or ``VmHWM`` (peak resident)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    prefix = f"{field}:"
    for line in status.splitlines():
        if line.startswith(prefix):
            return int(line.split()[1])
    return None
