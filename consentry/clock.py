"""Time: the one clock and the one text form of a timestamp. Pure (no Flask)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


# -- ISO 8601 durations (the policy's request deadlines) -----------------------------------

_DURATION = re.compile(r"P(?:(?P<years>[0-9]{1,3})Y)?(?:(?P<months>[0-9]{1,4})M)?"
                       r"(?:(?P<weeks>[0-9]{1,4})W)?(?:(?P<days>[0-9]{1,5})D)?")


@dataclass(frozen=True)
class Duration:
    """A calendar duration: whole months, then whole days (ISO 8601 `PnYnMnWnD`)."""

    months: int
    days: int
    text: str

    def after(self, start: datetime) -> datetime:
        """`start` plus this duration. A month ends on the same day of the month it
        reaches, or on that month's last day (Jan 31 + P1M = Feb 28, or 29)."""
        total = start.year * 12 + (start.month - 1) + self.months
        year, month = divmod(total, 12)
        day = min(start.day, calendar.monthrange(year, month + 1)[1])
        return start.replace(year=year, month=month + 1, day=day) + timedelta(days=self.days)


def parse_duration(text: str) -> Duration:
    """Read an ISO 8601 date duration (`P1M`, `P45D`, `P1Y2M`, `P6W`); a ValueError for
    anything else, a time part (`PT1H`) or a zero duration included."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or text == "P":
        raise ValueError(f"not an ISO 8601 duration of years, months, weeks and days: "
                         f"{text!r} (e.g. P1M, P45D)")
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    duration = Duration(parts["years"] * 12 + parts["months"],
                        parts["weeks"] * 7 + parts["days"], text)
    if duration.months == 0 and duration.days == 0:
        raise ValueError(f"a duration must not be zero: {text!r}")
    return duration
