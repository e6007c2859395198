"""Opaque cursors and limits for every list endpoint (API.md "Lists")."""

from __future__ import annotations

import json
from datetime import datetime

import marshmallow as ma

from consentry import inbound
from consentry.canonical import b64url, b64url_decode
from consentry.clock import to_utc
from consentry.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class PageArgsSchema(ma.Schema):
    """`?limit=&cursor=` of a list endpoint."""

    limit = ma.fields.Integer(load_default=DEFAULT_LIMIT,
                              validate=ma.validate.Range(min=1, max=MAX_LIMIT))
    cursor = ma.fields.String(load_default=None)


def page_schema(name: str, key: str, item: type[ma.Schema]) -> type[ma.Schema]:
    """The schema of a list answer (API.md "Lists"): `{key: [item, ...], "next": cursor}`."""
    return ma.Schema.from_dict({key: ma.fields.List(ma.fields.Nested(item)),
                                "next": ma.fields.String(allow_none=True)}, name=name)


def encode_cursor(position: dict) -> str:
    """Return an opaque cursor for `position`."""
    return b64url(json.dumps(position, separators=(",", ":")).encode())


def decode_cursor(cursor: str | None, *keys: str, field: str = "cursor",
                  types: dict[str, type] | None = None) -> dict | None:
    """Decode a cursor made by encode_cursor; a malformed one is a 422 naming `field`.

    `types` gives the exact type each key must have (int means a non-negative int that
    fits a signed 64-bit column). The cursor's JSON is read as strictly as a body.
    """
    if cursor is None:
        return None
    try:
        position = inbound.loads(b64url_decode(cursor))
        if not isinstance(position, dict) or any(k not in position for k in keys):
            raise ValueError
        for key, kind in (types or {}).items():
            value = position[key]
            if type(value) is not kind or (kind is int and value < 0):
                raise ValueError
    except ValueError as exc:  # JsonRejected and UnicodeDecodeError are ValueErrors too
        raise _malformed(field) from exc
    return position


def _malformed(field: str) -> Invalid:
    return Invalid("Malformed cursor.", fields={field: ["Not a cursor this service gave."]})


def encode_keyset(at: datetime, row_id: str) -> str:
    """A cursor for lists ordered newest first by (time, id)."""
    return encode_cursor({"t": at.isoformat(), "id": row_id})


def decode_keyset(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, id) an encode_keyset cursor stands for; a malformed one is a 422."""
    position = decode_cursor(cursor, "t", "id", types={"t": str, "id": str})
    if position is None:
        return None
    try:
        at = datetime.fromisoformat(position["t"])
    except ValueError as exc:
        raise _malformed("cursor") from exc
    at = to_utc(at) if at.tzinfo is not None else None
    if at is None:  # naive, or an instant no list of ours holds
        raise _malformed("cursor")
    return at, position["id"]
