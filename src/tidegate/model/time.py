"""README timestamps: RFC 3339, UTC, ``Z``, exactly six fractional digits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["format_ts", "from_micros", "from_unix", "parse_ts", "to_micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def format_ts(when: datetime) -> str:
    """``2026-02-07T14:30:00.123456Z``; fixed width (years below 1000 too), so string order is time order.

    ``isoformat`` rather than ``strftime``: it takes half the time (this runs several times per
    dispatch), and glibc's ``%Y`` does not pad years below 1000 to four digits."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return when.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(text: str) -> datetime:
    """Parse RFC 3339 with ``Z`` or a numeric offset into aware UTC; digits past microseconds are cut.

    Raises ValueError for anything else, including a timestamp without an offset."""
    raw = text.strip()
    if "T" not in raw and "t" not in raw and " " not in raw:
        raise ValueError("expected an RFC 3339 timestamp")
    if raw[-1:] in ("Z", "z"):
        raw = raw[:-1] + "+00:00"
    head, sep, frac_tail = raw.partition(".")
    if sep:
        digits = ""
        rest = frac_tail
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        if not digits:
            raise ValueError("empty fractional seconds")
        raw = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a time zone offset (Z or +HH:MM)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        raise ValueError("timestamp is out of range") from None


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_micros(when: datetime) -> int:
    """Whole microseconds since the Unix epoch, exactly (stores keep instants as sortable integers)."""
    return (when - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """Inverse of ``to_micros``: an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=micros)
