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


# Values with nothing inside to check: skipped by exact type, so the check costs one set
# lookup per leaf rather than a call.
_LEAVES = frozenset({str, int, bool, type(None)})


def _reject_floats(value):
    """Raise TypeError at a float anywhere in `value`, or at an object key not a string.

    Walks without recursion; each container once (a part shared by several places, or a
    cycle, which the encoder then refuses)."""
    pending, seen = [value], set()
    pop, push, visit = pending.pop, pending.append, seen.add
    while pending:
        value = pop()
        if isinstance(value, dict):
            if id(value) in seen:
                continue
            visit(id(value))
            for key, item in value.items():
                if type(key) is not str and not isinstance(key, str):
                    raise TypeError("object keys must be strings in canonical JSON")
                if type(item) not in _LEAVES:
                    push(item)
        elif isinstance(value, list | tuple):
            if id(value) in seen:
                continue
            visit(id(value))
            for item in value:
                if type(item) not in _LEAVES:
                    push(item)
        elif isinstance(value, float):
            raise TypeError("floats are not allowed in canonical JSON; use a string or integer")


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
