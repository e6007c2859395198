"""Fields shared by every domain: subject ids (body, query and path), timestamps, JSON."""

from __future__ import annotations

import re
from datetime import datetime

import marshmallow as ma
import orjson
from flask import Response
from werkzeug.exceptions import UnprocessableEntity
from werkzeug.routing import BaseConverter

from consentry.clock import RANGE_RULE, rfc3339, to_utc
from consentry.errors import Invalid

# The one rule for a subject id (API.md): the client's own id for a person or device.
SUBJECT_ID_PATTERN = r"[A-Za-z0-9._:@-]{1,128}"
SUBJECT_ID_RULE = "Must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"
_SUBJECT_ID = re.compile(SUBJECT_ID_PATTERN)


def is_subject_id(value: object) -> bool:
    """Whether `value` is a valid subject id."""
    return isinstance(value, str) and _SUBJECT_ID.fullmatch(value) is not None


def check_subject_id(value: object, field: str = "subject_id") -> str:
    """Return `value` if it is a valid subject id, else raise a 422 naming `field`."""
    if not is_subject_id(value):
        shown = value[:140] if isinstance(value, str) else value
        raise Invalid(f"Invalid subject_id {shown!r}.", fields={field: [SUBJECT_ID_RULE]})
    return value


# The rules for a privacy notice's id and version (API.md "Standard consent signals"). A
# consent write names a version as "<notice_id>@<version>", so neither may hold an "@",
# and together they fit the 64 characters a consent event keeps.
NOTICE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}"
NOTICE_ID_RULE = "Must be 1-32 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit"
NOTICE_VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,30}"
NOTICE_VERSION_RULE = ("Must be 1-31 characters of A-Z a-z 0-9 . _ + -, starting with a "
                       "letter or digit")
_NOTICE_ID = re.compile(NOTICE_ID_PATTERN)
_NOTICE_VERSION = re.compile(NOTICE_VERSION_PATTERN)


def is_notice_id(value: object) -> bool:
    """Whether `value` is a valid notice id."""
    return isinstance(value, str) and _NOTICE_ID.fullmatch(value) is not None


def is_notice_version(value: object) -> bool:
    """Whether `value` is a valid notice version."""
    return isinstance(value, str) and _NOTICE_VERSION.fullmatch(value) is not None


# The rule for a recipe id (API.md "Recipes").
RECIPE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
RECIPE_ID_RULE = (f"Must match {RECIPE_ID_PATTERN} (letters, digits, '.', '_', '-'; "
                  f"at most 100).")
_RECIPE_ID = re.compile(RECIPE_ID_PATTERN)

# A SHA-256 as text: 64 lowercase hexadecimal digits (a notice's, a bundle's).
SHA256_PATTERN = r"[0-9a-f]{64}"
_SHA256 = re.compile(SHA256_PATTERN)


def is_recipe_id(value: object) -> bool:
    """Whether `value` is a valid recipe id."""
    return isinstance(value, str) and _RECIPE_ID.fullmatch(value) is not None


def is_sha256(value: object) -> bool:
    """Whether `value` is a SHA-256 as lowercase hexadecimal text."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


class FullMatch(ma.validate.Validator):
    """A field's value must match `pattern` whole. (`ma.validate.Regexp` uses
    `re.match`, so `^...$` there lets a trailing newline through: `$` matches before a
    final newline.) Every pattern check of an id or version goes through `fullmatch`."""

    def __init__(self, pattern: str, error: str):
        self.regex = re.compile(pattern)
        self.error = error

    def __call__(self, value: str) -> str:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self.error)
        return value


class SubjectId(ma.fields.String):
    """A subject id in a body or query (the same rule and message as in a path)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("pattern", f"^{SUBJECT_ID_PATTERN}$")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if not is_subject_id(value):
            raise ma.ValidationError(SUBJECT_ID_RULE)
        return value


class InvalidSubjectInPath(UnprocessableEntity):
    """A route's subject id that breaks the rule: 422 in the envelope, before the view runs."""

    def __init__(self, value: str):
        super().__init__()
        self.data = {"message": f"Invalid subject_id {value[:140]!r}.",
                     "messages": {"subject_id": [SUBJECT_ID_RULE]}}


class SubjectIdConverter(BaseConverter):
    """`<subject:subject_id>` in a route: checked once here for every route that has one."""

    def to_python(self, value: str) -> str:
        if not is_subject_id(value):
            raise InvalidSubjectInPath(value)
        return value


def subject_id_openapi(_converter) -> dict:
    """How the path parameter appears in the OpenAPI document."""
    return {"type": "string", "pattern": f"^{SUBJECT_ID_PATTERN}$"}


class Timestamp(ma.fields.AwareDateTime):
    """RFC 3339 in UTC with a `Z` (`2026-11-24T15:00:00Z`); input must carry a zone and
    lie within `consentry.clock.EARLIEST`..`LATEST` (else a 422, never an overflow)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return rfc3339(value)

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        if isinstance(value, str) and value.endswith(("z", "Z")):
            value = value[:-1] + "+00:00"
        moment = to_utc(super()._deserialize(value, attr, data, **kwargs))
        if moment is None:
            raise ma.ValidationError(RANGE_RULE)
        return moment


class QueryList(ma.fields.List):
    """A list in a query string, given either way or both: repeated (`?c=a&c=b`, as
    generated OpenAPI clients send it) or comma-separated (`?c=a,b`). Every value counts;
    empty parts are dropped."""

    is_multiple = True  # webargs hands over every value of a repeated parameter

    def _deserialize(self, value, attr, data, **kwargs) -> list:
        values = value if isinstance(value, list | tuple) else [value]
        parts = [part.strip() for v in values
                 for part in (v.split(",") if isinstance(v, str) else [v])]
        return super()._deserialize([p for p in parts if p != ""], attr, data, **kwargs)


def json_response(body: dict, status: int = 200) -> Response:
    """A JSON response built directly, for hot paths whose schema is documentation only."""
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


class SignatureSchema(ma.Schema):
    """A detached Ed25519 signature over canonical JSON; keys at /.well-known/consentry-keys."""

    alg = ma.fields.String(metadata={"enum": ["EdDSA"]})
    kid = ma.fields.String()
    value = ma.fields.String(metadata={"description": "base64url signature"})
