"""Recurring actions (features.md §17): cron schedules in IANA zones, fired once cluster-wide."""

from tidegate.recurring.record import RecurringAction
from tidegate.recurring.schedule import InvalidCron, InvalidTimezone, Schedule, parse_schedule
from tidegate.recurring.service import RecurringActions

__all__ = [
    "InvalidCron",
    "InvalidTimezone",
    "RecurringAction",
    "RecurringActions",
    "Schedule",
    "parse_schedule",
]
