"""Canonical JSON (RFC 8785 style) for everything that is hashed or signed.

Pure standard library, so the offline verifier can use it without Flask or a database.
Keys are sorted, no insignificant white space, UTF-8, and no floats: a float's
text differs between languages, so hashed documents carry integers and strings only.
"""

from __future__ import annotations

import base64
import json
import re

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _reject_floats(value):
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON; use a string or integer")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("object keys must be strings in canonical JSON")
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)


def canonical_json(value) -> bytes:
    """Encode `value` as canonical JSON bytes."""
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raise ValueError for any other spelling of the bytes.

    Padding, characters outside the alphabet and non-zero trailing bits are rejected, so
    each byte string has exactly one accepted text (what `b64url` gives).
    """
    if not isinstance(text, str) or len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not canonical base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not canonical base64url (stray bits)")
    return data
