"""The state of one evaluation: the (possibly patched) action, the instant, and its local times.

The clock is read once per evaluation (rules.md §3), so every rule sees the same ``now``; the local
calendar fields are computed at most once per time zone and evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple, TypeAlias
from zoneinfo import ZoneInfo

from tidegate.model.action import Action

__all__ = ["WEEKDAYS", "EvalContext", "LocalTime", "SemanticMatcher"]

#: ``(text, topic, threshold) -> matched``; may raise to fail the dispatch (``embedding.fail_open = false``).
SemanticMatcher: TypeAlias = Callable[[str, str, float], bool]

#: English names, independent of the process locale (``calendar.day_name`` is not).
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class LocalTime(NamedTuple):
    """The ``time.*`` fields of rules.md §5 in one time zone."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: str
    weekday_num: int

    @classmethod
    def of(cls, instant: datetime, zone: ZoneInfo) -> LocalTime:
        local = instant.astimezone(zone)
        return cls(
            local.year,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
            WEEKDAYS[local.weekday()],
            local.isoweekday(),
        )


class EvalContext:
    """Mutable only inside one ``RuleSet.evaluate`` call: modify rules replace ``action`` as they apply."""

    __slots__ = ("_locals", "_timestamp", "action", "now", "semantic")

    def __init__(self, action: Action, now: datetime, semantic: SemanticMatcher | None = None) -> None:
        self.action = action
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.semantic = semantic
        self._timestamp: int | None = None
        self._locals: dict[ZoneInfo, LocalTime] | None = None

    @property
    def timestamp(self) -> int:
        """Unix seconds, floored (``time.timestamp`` and ``now``; zone-independent)."""
        if self._timestamp is None:
            self._timestamp = math.floor(self.now.timestamp())
        return self._timestamp

    def local(self, zone: ZoneInfo) -> LocalTime:
        locals_ = self._locals
        if locals_ is None:
            locals_ = self._locals = {}
        found = locals_.get(zone)
        if found is None:
            found = locals_[zone] = LocalTime.of(self.now, zone)
        return found
