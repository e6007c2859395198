"""Marshmallow fields shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma


class Timestamp(ma.fields.AwareDateTime):
    """RFC 3339 in UTC with a `Z` (`2026-11-24T15:00:00Z`); input must carry a zone."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        text = value.astimezone(UTC).isoformat()
        return text.replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        if isinstance(value, str) and value.endswith(("z", "Z")):
            value = value[:-1] + "+00:00"
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)
