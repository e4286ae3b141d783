"""README timestamps (``model/time.py``): fixed width, UTC, ``Z``, and a lossless round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tidegate.model.time import format_ts, from_micros, parse_ts, to_micros


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (datetime(2026, 2, 7, 14, 30, tzinfo=UTC), "2026-02-07T14:30:00.000000Z"),
        (datetime(2026, 2, 7, 14, 30, 0, 5, tzinfo=UTC), "2026-02-07T14:30:00.000005Z"),
        (
            datetime(2026, 2, 7, 15, 30, 1, 120000, tzinfo=timezone(timedelta(hours=1))),
            "2026-02-07T14:30:01.120000Z",
        ),
        (datetime(2026, 6, 1, tzinfo=ZoneInfo("Europe/Paris")), "2026-05-31T22:00:00.000000Z"),
        (datetime(5, 1, 1, tzinfo=UTC), "0005-01-01T00:00:00.000000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_format_is_fixed_width_utc(when: datetime, text: str) -> None:
    assert format_ts(when) == text
    assert parse_ts(text) == when


def test_string_order_is_time_order() -> None:
    instants = [datetime(year, 1, 1, tzinfo=UTC) for year in (5, 999, 1000, 2026)]
    assert sorted(format_ts(when) for when in instants) == [format_ts(when) for when in instants]


def test_micros_round_trip() -> None:
    when = datetime(2026, 2, 7, 14, 30, 0, 123456, tzinfo=UTC)
    assert from_micros(to_micros(when)) == when
