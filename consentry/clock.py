"""Time: the one clock and the one text form of a timestamp. Pure (no Flask)."""

from __future__ import annotations

from datetime import UTC, datetime


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
