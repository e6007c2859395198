"""What a client sends, checked once before any view reads it (API.md "Conventions").

Bodies are JSON only: a body not declared `application/json` is a 415, since the views
would otherwise read it as no body at all (a purge without its `dry_run`, an export
without its filter). The HTML entries (the people's pages, the console) post forms: their
blueprints are named with `accept_forms`, and only their form bodies pass.

A JSON body is read strictly, so nothing a client writes reaches a 500:

- valid UTF-8, no lone surrogates (`"\\ud800"`), no `NaN`/`Infinity` → else 400;
- integers that fit a signed 64-bit column, other numbers finite and at most
  MAX_NUMBER_CHARS long, no NUL character in any text, nesting at most MAX_DEPTH
  arrays/objects deep → else 422.

The path's and query's values may not hold a NUL character either (no database text
column can store one; PostgreSQL refuses it outright) → 422 naming the parameter.
`loads` is the same strict reading for anything else a client hands over as JSON
(cursors).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, current_app, request

from consentry.errors import DomainError

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_NUMBER_CHARS = 64  # far past the 17 significant digits a double holds
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a valid pair decodes to one character
NUL_RULE = "Must not contain a NUL character (\\u0000)."
FORM_BLUEPRINTS = "consentry.form_blueprints"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class JsonRejected(ValueError):
    """JSON this service will not read; `status` is 400 (not JSON) or 422 (past a limit)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _int(text: str) -> int:
    # Length first: int() refuses 4,300+ digits with a ValueError, and long texts cost time.
    if len(text) > 20 or not INT64_MIN <= (value := int(text)) <= INT64_MAX:
        raise JsonRejected(f"An integer does not fit a signed 64-bit integer: {text[:30]}...",
                           422)
    return value


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRejected(f"A number is longer than {MAX_NUMBER_CHARS} characters.", 422)
    value = float(text)
    if not math.isfinite(value):
        raise JsonRejected(f"A number is too large: {text}.", 422)
    return value


def _constant(name: str):
    raise JsonRejected(f"{name} is not a JSON value.")


def _check(value: Any, *, text: bool) -> None:
    """Depth (and with `text`, the strings) of a parsed document, without recursion."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JsonRejected(f"JSON nested deeper than {MAX_DEPTH} levels.", 422)
        children = item.values() if isinstance(item, dict) else item
        if text and isinstance(item, dict):
            children = [*item, *children]
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif text and isinstance(child, str):
                _check_text(child)
    if text and isinstance(value, str):  # a document that is one string
        _check_text(value)


def _check_text(value: str) -> None:
    if _LONE_SURROGATE.search(value):
        raise JsonRejected("A string holds a lone UTF-16 surrogate (e.g. \\ud800); "
                           "text must be valid Unicode.")
    if "\x00" in value:
        raise JsonRejected(f"A string holds a NUL character: {NUL_RULE}", 422)


# Strict UTF-8 cannot carry a surrogate, nor a JSON string a raw NUL: both come only as
# \u escapes, so a text without these needs no look at its strings (the common case,
# and the batch gate's hot path). Fewer brackets than MAX_DEPTH cannot nest too deep.
_TEXT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def loads(data: bytes | str) -> Any:
    """Parse JSON strictly (see the module); raise JsonRejected for anything else."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except UnicodeDecodeError as exc:
        raise JsonRejected("The body is not valid UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise JsonRejected(f"Not valid JSON: {exc.msg} at character {exc.pos}.") from exc
    except RecursionError as exc:
        raise JsonRejected(f"JSON nested deeper than {MAX_DEPTH} levels.", 422) from exc
    escapes = _TEXT_ESCAPE.search(text) is not None
    if escapes or text.count("[") + text.count("{") > MAX_DEPTH:
        _check(value, text=escapes)
    return value


def check_request() -> None:
    """Refuse NUL in the path or query (422), a body that is not JSON (415) and one that
    `loads` rejects (400/422)."""
    if request.routing_exception is not None:
        return  # the 404 or 405 is the answer
    fields = {name: [NUL_RULE] for name, value in (request.view_args or {}).items()
              if isinstance(value, str) and "\x00" in value}
    fields.update({name: [NUL_RULE] for name, values in request.args.lists()
                   if any("\x00" in v for v in [name, *values])})
    if fields:
        raise DomainError("The request holds a NUL character.", status=422,
                          code="validation_error", fields=fields)
    if request.blueprint in current_app.extensions.get(FORM_BLUEPRINTS, ()) \
            and request.mimetype in FORM_TYPES:
        fields = {name.replace("\x00", "\\0"): [NUL_RULE]
                  for name, values in request.form.lists()
                  if any("\x00" in v for v in [name, *values])}
        if fields:
            raise DomainError(f"A form field holds a NUL character: {', '.join(fields)}.",
                              status=422, code="validation_error", fields=fields)
        return
    data = request.get_data(cache=True)
    if not data:
        return
    if not request.is_json:
        shown = (request.content_type or "none")[:100]
        raise DomainError(f"The request body must be JSON with Content-Type: application/json "
                          f"(this one came with {shown!r}).", status=415,
                          code="unsupported_media_type")
    try:
        loads(data)
    except JsonRejected as exc:
        if exc.status == 400:
            raise DomainError(f"The request body is not valid JSON. {exc.message}",
                              code="malformed_json") from exc
        raise DomainError(exc.message, status=exc.status, code="validation_error") from exc


def accept_forms(app: Flask, blueprint: str) -> None:
    """Let the HTML entry `blueprint` take form bodies (it checks their CSRF token)."""
    app.extensions.setdefault(FORM_BLUEPRINTS, set()).add(blueprint)


def init_app(app: Flask) -> None:
    """Check every request before its view reads it (register after the other hooks)."""
    app.before_request(check_request)
