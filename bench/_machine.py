"""The machine a benchmark ran on, as every report states it."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from pathlib import Path

from tidegate import __version__

__all__ = ["BUSY_LOAD", "busy_note", "machine_info", "machine_lines"]

BUSY_LOAD = 0.5  # 1-minute load average above which the figures are flagged as likely disturbed


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "uvloop": version("uvloop"),
        "tidegate": __version__,
    }


def busy_note(load_average: float) -> list[str]:
    """One NOTE line when other processes were running at the start, else nothing."""
    if load_average <= BUSY_LOAD:
        return []
    return [
        f"  NOTE      load average was {load_average:.2f} at the start: other processes share the "
        "CPUs, so the figures are likely low"
    ]


def machine_lines(title: str) -> list[str]:
    """The title and the machine/python lines that open every table."""
    info = machine_info()
    return [
        title,
        f"  machine   {info['cpus']} CPUs ({info['cpu_model']}), {info['os']}",
        f"  python    {info['python']}, uvloop {info['uvloop']}, tidegate {info['tidegate']}",
    ]
