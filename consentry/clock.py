"""Time: the one clock and the one text form of a timestamp. Pure (no Flask)."""

from __future__ import annotations

from datetime import UTC, datetime

# The instants the service accepts from a client: a day inside what Python can hold, so
# converting to UTC and reading the value back in any zone (PostgreSQL answers in the
# session's zone) can never overflow.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
RANGE_RULE = "Must lie between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59Z."


def to_utc(value: datetime) -> datetime | None:
    """`value` (timezone-aware) in UTC, or None when it lies outside EARLIEST..LATEST."""
    try:
        moment = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        return None
    return moment if EARLIEST <= moment <= LATEST else None


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def rfc3339(value: datetime | None) -> str | None:
    """The one text form of a timestamp in responses and documents: RFC 3339, UTC, `Z`.

    Microseconds appear only when they are not zero (`2026-11-24T15:00:00Z`).
    """
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
