"""Cron schedules of recurring actions (features.md §17): validation and the next occurrence, DST included.

Pure: no clock and no I/O. ``cronsim`` evaluates the 5 fields; it already has classic (Debian) cron DST
semantics, which are the spec's: when minute and hour are fixed it walks local wall-clock time, so a time
skipped by spring-forward fires at the first real minute after the gap and a repeated time fires once, at
its first instant (fold 0); otherwise it walks real time, so hourly stays hourly across both changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from tidegate.errors import InvalidInput

__all__ = [
    "InvalidCron",
    "InvalidTimezone",
    "Schedule",
    "occurrence_to_fire",
    "parse_schedule",
    "resolve_timezone",
]

_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: An occurrence younger than this fires normally; older ones are missed (features.md §17).
ON_TIME = timedelta(seconds=60)
#: How many future occurrences the minimum-interval check looks at (api.md §12).
_PROBE = 100


class InvalidCron(InvalidInput):
    code = "invalid_cron"


class InvalidTimezone(InvalidInput):
    code = "invalid_timezone"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated 5-field expression in one IANA zone."""

    fields: str
    zone: ZoneInfo

    def next_after(self, instant: datetime) -> datetime | None:
        """The first occurrence strictly after ``instant``, in UTC; None when no occurrence remains."""
        return next(self.occurrences_after(instant), None)

    def occurrences_after(self, instant: datetime) -> Iterator[datetime]:
        """Every occurrence strictly after ``instant``, in order, in UTC."""
        return _Occurrences(CronSim(self.fields, instant.astimezone(self.zone)))


class _Occurrences:
    """cronsim's iterator, as UTC instants; it ends (instead of raising) after 50 years without a match."""

    def __init__(self, sim: CronSim) -> None:
        self._sim = sim

    def __iter__(self) -> _Occurrences:
        return self

    def __next__(self) -> datetime:
        return next(self._sim).astimezone(UTC)


def resolve_timezone(name: str) -> ZoneInfo:
    """An IANA name, legacy links (``US/Eastern``) included; anything else is ``invalid_timezone``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimezone(f"unknown time zone: {name!r}") from None


def parse_schedule(expr: str, timezone: str, *, now: datetime, min_interval_seconds: int) -> Schedule:
    """Validate ``expr`` in ``timezone`` as of ``now``: exactly 5 fields or a nickname, at least one future
    occurrence, and no gap shorter than ``min_interval_seconds`` among the next 100 occurrences."""
    fields = _normalise(expr)
    zone = resolve_timezone(timezone)
    schedule = Schedule(fields, zone)
    try:
        upcoming = list(islice(schedule.occurrences_after(now), _PROBE))
    except (CronSimError, ValueError) as exc:
        raise InvalidCron(f"invalid cron expression {expr!r}: {exc}") from None
    if not upcoming:
        raise InvalidCron(f"cron expression {expr!r} has no future occurrence")
    gaps = (later - earlier for earlier, later in pairwise(upcoming))
    shortest = min(gaps, default=None)
    if shortest is not None and shortest < timedelta(seconds=min_interval_seconds):
        raise InvalidCron(
            f"cron expression {expr!r} fires more often than every {min_interval_seconds} seconds"
        )
    return schedule


def _normalise(expr: str) -> str:
    text = expr.strip()
    if text.startswith("@"):
        fields = _NICKNAMES.get(text.lower())
        if fields is None:
            raise InvalidCron(f"unsupported cron nickname {text!r}")
        return fields
    parts = text.split()
    if len(parts) != 5:
        raise InvalidCron(f"a cron expression has exactly 5 fields, got {len(parts)}")
    try:
        CronSim(" ".join(parts), datetime(2000, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError) as exc:
        raise InvalidCron(f"invalid cron expression {expr!r}: {exc}") from None
    return " ".join(parts)


def occurrence_to_fire(
    schedule: Schedule, due_at: datetime, now: datetime, *, catch_up_window_seconds: int
) -> tuple[datetime | None, int]:
    """Which occurrence a fire due at ``due_at`` and run at ``now`` dispatches, and how many it skips.

    On time (under 60 s late) it is ``due_at``. Otherwise only the most recent missed occurrence at or
    before ``now`` may fire: on time, or as the one catch-up fire when at most ``catch_up_window_seconds``
    old (0 disables catch-up). There is no backfill (features.md §17 "Missed occurrences")."""
    if now - due_at < ON_TIME:
        return due_at, 0
    latest, skipped = due_at, 0
    for occurrence in schedule.occurrences_after(due_at):
        if occurrence > now:
            break
        latest, skipped = occurrence, skipped + 1
    late = now - latest
    if late < ON_TIME or (catch_up_window_seconds > 0 and late <= timedelta(seconds=catch_up_window_seconds)):
        return latest, skipped
    return None, skipped + 1
