"""Fixed-window throttling aligned to Unix time (features.md §4, D10): the pure window arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Window", "window_for"]


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    seconds: int

    def retry_after(self, now_ts: float) -> int:
        """Seconds until the window frees a slot, rounded up, at least 1."""
        return max(1, math.ceil(self.start + self.seconds - now_ts))


def window_for(now_ts: float, seconds: int) -> Window:
    return Window(start=math.floor(now_ts / seconds) * seconds, seconds=seconds)
