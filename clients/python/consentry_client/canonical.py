"""RFC 8785 (JSON Canonicalization Scheme, JCS) for everything Consentry hashes or signs.

Pure standard library. What a signature covers is the JCS text of the document,
UTF-8 encoded:

- object members sorted by their names compared as UTF-16 code units (RFC 8785
  §3.2.3), no white space between tokens, each name once;
- strings as JCS escapes them (§3.2.2.2): `"` and `\\` escaped, `\\b \\f \\n \\r \\t`
  in their short forms, every other control character below U+0020 as `\\u00xx`
  (lower-case hex), everything else as itself, in UTF-8. A lone surrogate is refused;
- `true`, `false`, `null`;
- numbers: **integers only**, within ±(2^53 − 1), where RFC 8785's ECMAScript number
  text is the integer's decimal digits. Floats are refused (a float's text differs
  between languages; documents carry integers and strings), and so are larger integers,
  which an IEEE 754 double, and so a JCS implementation, cannot hold exactly.
"""

from __future__ import annotations

import base64
import json
import re

try:  # an accelerator when present (the service has it): the same bytes, several times faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - the client needs only the standard library
    _orjson = None

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Code point order and UTF-16 order differ only between a character above U+FFFF and
# one in U+E000-U+FFFF: only names holding such characters need the slow sort.
_ABOVE_E000 = re.compile("[\ue000-\U0010ffff]")
# orjson escapes strings as JCS does and sorts names by code point; once `_check` has
# passed, what it writes is the JCS text (tests/consentry/test_jcs.py holds both paths
# to the rfc8785 package).
_ORJSON_OPTIONS = 0 if _orjson is None else _orjson.OPT_SORT_KEYS | _orjson.OPT_STRICT_INTEGER
MAX_SAFE_INTEGER = 2**53 - 1
_TOO_LARGE = ("integers beyond ±(2**53 - 1) are not allowed in canonical JSON (RFC 8785 "
              "numbers are IEEE 754 doubles)")


def _check(value) -> bool:
    """Refuse what JCS cannot carry; return True when some object name needs UTF-16 order.

    The common types are told apart by `type(...) is`, which costs a fraction of an
    `isinstance` against a union; subclasses take the general branch below.
    """
    needs_utf16 = False
    stack, seen = [value], set()
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise TypeError(_TOO_LARGE)
            continue
        if kind is dict or kind is list or kind is tuple or isinstance(item, dict | list | tuple):
            if id(item) in seen:  # a cycle (or a shared part): refused, never chased
                raise TypeError("a document that contains itself is not JSON")
            seen.add(id(item))
            if isinstance(item, dict):
                for key, child in item.items():
                    if type(key) is not str and not isinstance(key, str):
                        raise TypeError("object keys must be strings in canonical JSON")
                    if not needs_utf16 and not key.isascii() and _ABOVE_E000.search(key):
                        needs_utf16 = True
                    if type(child) is not str:  # a string needs no check: skip the push
                        push(child)
            else:
                stack.extend(item)
        elif isinstance(item, str | bool):
            continue
        elif isinstance(item, int):
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise TypeError(_TOO_LARGE)
        elif isinstance(item, float):
            raise TypeError("floats are not allowed in canonical JSON; use a string or integer")
        else:
            raise TypeError(f"{type(item).__name__} is not JSON")
    return needs_utf16


def _utf16_key(item) -> bytes:
    return item[0].encode("utf-16-be", "surrogatepass")


def _encode_utf16_order(value) -> str:
    """JCS text with members sorted by UTF-16 code units (the general, slower path)."""
    if isinstance(value, dict):
        members = sorted(value.items(), key=_utf16_key)
        return "{" + ",".join(_string(k) + ":" + _encode_utf16_order(v)
                              for k, v in members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode_utf16_order(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def canonical_json(value) -> bytes:
    """Encode `value` as its RFC 8785 (JCS) UTF-8 bytes; TypeError/ValueError if it cannot be.

    Python's JSON encoder (without ASCII escaping) escapes strings exactly as JCS does
    and writes integers as their digits; its key sort is code point order, which is
    UTF-16 order unless a name holds a character at or above U+E000. orjson, when
    installed, writes the same bytes faster.
    """
    if _check(value):
        text = _encode_utf16_order(value)
    else:
        if _orjson is not None:
            try:
                return _orjson.dumps(value, option=_ORJSON_OPTIONS)
            except _orjson.JSONEncodeError:
                pass  # a lone surrogate, or nesting deeper than orjson goes: the general path
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("a lone surrogate is not allowed in canonical JSON") from exc


class SharedParts:
    """The JCS text of document parts that many documents share, each encoded once.

    `canonical_json(document)` gives the bytes `canonical_json` gives, but each member
    named in `shared` is encoded once per object (the very object, kept alive here so
    its id cannot be reused) and spliced in: JCS encodes a member's value without regard
    to the rest of its object, so the bytes are the same. Many receipts of one batch
    carry the same policy parts (purposes, controller, data categories): those then
    cost one encoding, and each receipt only what differs. The parts must not change
    once encoded. Without orjson, every document is encoded whole."""

    def __init__(self, shared: tuple[str, ...]):
        self.shared = shared
        self._parts: dict[int, tuple[object, object]] = {}

    def _fragment(self, value):
        kept = self._parts.get(id(value))
        if kept is None:
            kept = self._parts[id(value)] = (value, _orjson.Fragment(canonical_json(value)))
        return kept[1]

    def canonical_json(self, document: dict) -> bytes:
        if _orjson is None or type(document) is not dict:
            return canonical_json(document)
        rest = {k: v for k, v in document.items() if k not in self.shared}
        if _check(rest):  # a name needing UTF-16 order: the general path, whole
            return canonical_json(document)
        for name in self.shared:
            if name in document:
                part = document[name]
                rest[name] = part if type(part) is str else self._fragment(part)
        try:
            return _orjson.dumps(rest, option=_ORJSON_OPTIONS)
        except _orjson.JSONEncodeError:
            return canonical_json(document)


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
