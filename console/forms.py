"""The console's forms: the API's own schemas, read from HTML form fields.

A form sends every field, empty or not: an empty field means "not given". Times come
from `datetime-local` inputs without a zone and are taken as UTC, as the console says.
"""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma

from audit.schemas import AccessExportCreateSchema, EntriesQuerySchema, ExportCreateSchema
from consentry.errors import flatten_messages
from consentry.fields import SubjectId, Timestamp
from governance.privacy_requests import OPEN_FILTER, STATUSES, TYPES
from governance.request_schemas import (
    RequestCreateSchema,
    RequestExtendSchema,
    RequestTransitionSchema,
)
from retention.schemas import HoldRequestSchema


class _Form:
    """Drop empty fields, so a schema's defaults apply as in the API."""

    @ma.pre_load
    def _drop_blanks(self, data, **_kwargs):
        return {k: v.strip() for k, v in data.items()
                if isinstance(v, str) and v.strip() and k != "csrf_token"}


class AuditFilterForm(_Form, EntriesQuerySchema):
    pass


class ExportForm(_Form, ExportCreateSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(1, 500), metadata={
        "description": "Why the export is made (recorded)"})


class AccessExportForm(_Form, AccessExportCreateSchema):
    """A subject access export: the person's id (the API takes it from the path)."""

    subject_id = SubjectId(required=True)
    reason = ma.fields.String(required=True, validate=ma.validate.Length(1, 500), metadata={
        "description": "The access request's reference (recorded)"})


class HoldForm(_Form, HoldRequestSchema):
    until = Timestamp(load_default=None, allow_none=True, default_timezone=UTC)


def load_form(schema: ma.Schema, data) -> tuple[dict | None, dict[str, list[str]]]:
    """(values, {}) when `data` (a form or query MultiDict) is valid, else (None, errors)."""
    try:
        return schema.load(dict(data.items())), {}
    except ma.ValidationError as exc:
        return None, flatten_messages(exc.messages)


class RequestForm(_Form, RequestCreateSchema):
    """A privacy request taken by staff: `received_at` from a `datetime-local` (UTC)."""

    source = ma.fields.String(load_default="console", validate=ma.validate.Length(1, 64))
    received_at = Timestamp(load_default=None, default_timezone=UTC)


class RequestTransitionForm(_Form, RequestTransitionSchema):
    pass


class RequestExtendForm(_Form, RequestExtendSchema):
    pass


class RequestQueueForm(_Form, ma.Schema):
    """The queue's filters: `open` requests unless a status is chosen (`all`: any)."""

    status = ma.fields.String(load_default=OPEN_FILTER,
                              validate=ma.validate.OneOf((*STATUSES, OPEN_FILTER, "all")))
    type = ma.fields.String(load_default=None, validate=ma.validate.OneOf(TYPES))
    jurisdiction = ma.fields.String(load_default=None, validate=ma.validate.Length(1, 64))
    cursor = ma.fields.String(load_default=None)
