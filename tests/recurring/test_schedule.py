"""Cron schedules (features.md §17): grammar, nicknames, zones and the DST rules, as tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tidegate.recurring.schedule import (
    InvalidCron,
    InvalidTimezone,
    Schedule,
    occurrence_to_fire,
    parse_schedule,
)

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


def schedule(expr: str, zone: str = "UTC", now: datetime = NOW, min_interval: int = 60) -> Schedule:
    return parse_schedule(expr, zone, now=now, min_interval_seconds=min_interval)


def fires(expr: str, zone: str, start: datetime, count: int) -> list[datetime]:
    found, at, sched = [], start, schedule(expr, zone, start)
    for _ in range(count):
        nxt = sched.next_after(at)
        assert nxt is not None
        found.append(nxt)
        at = nxt
    return found


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # spring-forward 2026-03-29: 02:30 CET does not exist -> the first instant after the gap, 03:00 CEST
        (utc(2026, 3, 27, 12), [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]),
        # fall-back 2026-10-25: 02:30 happens twice -> only its first instant (CEST), once
        (
            utc(2026, 10, 23, 12),
            [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_berlin_half_past_two_across_dst(start: datetime, expected: list[datetime]) -> None:
    assert fires("30 2 * * *", "Europe/Berlin", start, 3) == expected


def test_new_york_spec_examples() -> None:
    spring = fires("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), 1)
    assert spring == [utc(2026, 3, 8, 7, 0)]  # 03:00 EDT
    assert fires("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), 2) == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT only
        utc(2026, 11, 2, 6, 30),
    ]
    hourly = fires("30 * * * *", "America/New_York", utc(2026, 11, 1, 4, 45), 3)
    assert hourly == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 7, 30)]  # EDT, EST


@pytest.mark.parametrize(
    ("expr", "zone", "expected"),
    [
        ("@hourly", "UTC", utc(2026, 2, 10, 13)),
        ("@daily", "UTC", utc(2026, 2, 11)),
        ("@midnight", "UTC", utc(2026, 2, 11)),
        ("@weekly", "UTC", utc(2026, 2, 15)),  # Sunday
        ("@monthly", "UTC", utc(2026, 3, 1)),
        ("@yearly", "UTC", utc(2027, 1, 1)),
        ("@ANNUALLY", "UTC", utc(2027, 1, 1)),
        ("0 9 * * MON-FRI", "US/Eastern", utc(2026, 2, 10, 14)),  # the seed's example: 09:00 EST
        ("0 9 * JAN mon", "UTC", utc(2027, 1, 4, 9)),
        ("0 9 * * 7", "UTC", utc(2026, 2, 15, 9)),  # 7 is Sunday
        ("0 9 * * 0", "UTC", utc(2026, 2, 15, 9)),
        ("0 0 L * *", "UTC", utc(2026, 2, 28)),
        ("0 0 * * 5L", "UTC", utc(2026, 2, 27)),  # last Friday
        ("0 0 * * 5#2", "UTC", utc(2026, 2, 13)),  # second Friday
        ("0 0 1,15 * *", "UTC", utc(2026, 2, 15)),
        ("10-50/10 12 * * *", "UTC", utc(2026, 2, 10, 12, 10)),
        ("0 0 13 * FRI", "UTC", utc(2026, 2, 13)),  # both day fields restricted: either matches (Vixie)
        ("0 12 * * *", "Asia/Kolkata", utc(2026, 2, 11, 6, 30)),
    ],
)
def test_next_execution(expr: str, zone: str, expected: datetime) -> None:
    assert schedule(expr, zone).next_after(NOW) == expected


def test_next_execution_is_strictly_after_the_reference() -> None:
    assert schedule("0 12 * * *").next_after(NOW) == utc(2026, 2, 11, 12)


@pytest.mark.parametrize(
    "expr",
    [
        *("@reboot", "@often", "* * * * * *", "0 0 * * * * 2026", "0 0 *", ""),
        *("0 0 30 2 *", "61 * * * *", "0 0 * FOO *"),
    ],
)
def test_invalid_cron(expr: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        schedule(expr)
    assert caught.value.code == "invalid_cron"


def test_minimum_interval() -> None:
    assert schedule("* * * * *").next_after(NOW) == utc(2026, 2, 10, 12, 1)  # exactly 60 s is allowed
    with pytest.raises(InvalidCron, match="more often"):
        schedule("*/5 * * * *", min_interval=600)


@pytest.mark.parametrize("zone", ["Nowhere/City", "", "../etc/passwd", "EST5EDT+"])
def test_invalid_timezone(zone: str) -> None:
    with pytest.raises(InvalidTimezone) as caught:
        schedule("0 0 * * *", zone)
    assert caught.value.code == "invalid_timezone"


@pytest.mark.parametrize("zone", ["US/Eastern", "US/Pacific", "GB", "Asia/Calcutta", "UTC", "Etc/GMT+5"])
def test_legacy_and_canonical_zone_names(zone: str) -> None:
    assert schedule("0 0 * * *", zone).zone.key == zone


@pytest.mark.parametrize(
    ("now", "window", "expected"),
    [
        (utc(2026, 2, 10, 10, 0, 59), 3600, (utc(2026, 2, 10, 10), 0)),  # under 60 s late: on time
        (utc(2026, 2, 10, 12, 20), 3600, (utc(2026, 2, 10, 12), 2)),  # the spec's example: only 12:00
        (utc(2026, 2, 10, 12, 20), 0, (None, 3)),  # catch-up disabled
        (utc(2026, 2, 12, 12, 20), 3600, (utc(2026, 2, 12, 12), 50)),  # two days down: the latest only
        (utc(2026, 2, 12, 12, 20), 600, (None, 51)),  # ... unless it is older than the window
        (utc(2026, 2, 10, 12, 0, 30), 0, (utc(2026, 2, 10, 12), 2)),  # the latest is on time
    ],
)
def test_missed_occurrences(now: datetime, window: int, expected: tuple[datetime | None, int]) -> None:
    hourly = schedule("0 * * * *")
    assert occurrence_to_fire(hourly, utc(2026, 2, 10, 10), now, catch_up_window_seconds=window) == expected
