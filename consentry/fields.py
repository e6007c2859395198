"""Marshmallow fields shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
import orjson
from flask import Response


class Timestamp(ma.fields.AwareDateTime):
    """RFC 3339 in UTC with a `Z` (`2026-11-24T15:00:00Z`); input must carry a zone."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return rfc3339(value)

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        if isinstance(value, str) and value.endswith(("z", "Z")):
            value = value[:-1] + "+00:00"
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """The one text form of a timestamp in responses: RFC 3339, UTC, `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_response(body: dict, status: int = 200) -> Response:
    """A JSON response built directly, for hot paths whose schema is documentation only."""
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


class SignatureSchema(ma.Schema):
    """A detached Ed25519 signature over canonical JSON; keys at /.well-known/consentry-keys."""

    alg = ma.fields.String(metadata={"enum": ["EdDSA"]})
    kid = ma.fields.String()
    value = ma.fields.String(metadata={"description": "base64url signature"})
