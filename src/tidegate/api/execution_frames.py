"""The frames of a per-execution stream (stream.md §2.2): a ``FrameSource`` over a ``HistoryFollower``.

Each entry becomes ``id: <seq>\\nevent: <type>\\ndata: <entry>\\n\\n``; the end becomes
``event: done\\ndata: <ChainSummary + reason>\\n\\n`` (no id), after which the stream completes. A drained
server (or a stopped follower) completes the stream without ``done``, so the client reconnects, to any
instance, with ``Last-Event-ID`` (§0.7)."""

from __future__ import annotations

from tidegate.chains.stream import HistoryFollower
from tidegate.model.json import JsonValue
from tidegate.stream.frames import history_frame, named_frame

__all__ = ["ExecutionFrames", "entry_frame"]


def entry_frame(entry: dict[str, JsonValue]) -> bytes:
    """One history entry as a per-execution frame (seed 004 field order)."""
    seq, kind = entry.get("seq"), entry.get("type")
    return history_frame(seq if isinstance(seq, int) else 0, str(kind), entry)


class ExecutionFrames:
    """``receive`` hands out the follower's entries as frames, then ``done``, then ``None``."""

    def __init__(self, follower: HistoryFollower) -> None:
        self._follower = follower
        self._over = False

    @property
    def follower(self) -> HistoryFollower:
        return self._follower

    async def receive(self, limit: int, max_wait: float | None) -> list[bytes] | None:
        if self._over:
            return None
        step = await self._follower.next(limit, max_wait)
        if step is None:
            self._over = True
            return None
        frames = [entry_frame(entry) for entry in step.entries]
        if step.end is not None:
            frames.append(named_frame("done", step.end.done()))
            self._over = True
        return frames
