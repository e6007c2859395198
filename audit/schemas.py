"""Marshmallow schemas of the audit API."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma

from consentry.fields import SignatureSchema, SubjectId, Timestamp
from consentry.pagination import page_schema


def _when(**kwargs):
    """A time filter: RFC 3339; without a zone it is taken as UTC."""
    return Timestamp(default_timezone=UTC, **kwargs)


class PageQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=1000))
    cursor = ma.fields.String(load_default=None)


class EntriesQuerySchema(PageQuerySchema):
    since = _when(load_default=None)
    until = _when(load_default=None)
    action = ma.fields.String(load_default=None, validate=ma.validate.Length(1, 64), metadata={
        "description": "One action (`consent.recorded`), or a prefix ending in a dot "
                       "(`consent.`) matching every action that starts with it"})
    subject_id = SubjectId(load_default=None)


class EntrySchema(ma.Schema):
    seq = ma.fields.Integer()
    ts = Timestamp()
    actor = ma.fields.String()
    action = ma.fields.String()
    subject_ref = ma.fields.String(allow_none=True,
                                   metadata={"description": "Keyed reference of the subject"})
    details = ma.fields.Dict()
    personal = ma.fields.Dict(allow_none=True, metadata={
        "description": "Personal fields, decrypted; null when none or shredded"})
    shredded = ma.fields.Boolean(metadata={
        "description": "The subject's key was destroyed: personal fields are gone for good"})
    prev_hash = ma.fields.String()
    entry_hash = ma.fields.String()


EntriesPageSchema = page_schema("EntriesPage", "entries", EntrySchema)


class CheckpointSchema(ma.Schema):
    tree_size = ma.fields.Integer()
    root_hash = ma.fields.String()
    ts = ma.fields.String()
    kid = ma.fields.String()
    reason = ma.fields.String()
    checkpoint = ma.fields.Dict(metadata={"description": "The signed document"})
    signature = ma.fields.Nested(SignatureSchema)


CheckpointsPageSchema = page_schema("CheckpointsPage", "checkpoints", CheckpointSchema)


class ExportCreateSchema(ma.Schema):
    since = _when(load_default=None, allow_none=True)
    until = _when(load_default=None, allow_none=True)
    subject_id = SubjectId(load_default=None, allow_none=True)
    action = ma.fields.String(load_default=None, allow_none=True,
                              validate=ma.validate.Length(1, 64))
    format = ma.fields.String(load_default="jsonl",
                              validate=ma.validate.OneOf(["jsonl", "csv"]))
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500),
                              metadata={"description": "Why the export is made (recorded)"})

    @ma.validates_schema
    def _range(self, data, **_kwargs):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ma.ValidationError("Must be after since.", "until")


class AccessExportCreateSchema(ma.Schema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500), metadata={
        "description": "Why the export is made, e.g. the access request's ticket (recorded)"})


class ExportCreatedSchema(ma.Schema):
    export_id = ma.fields.String(metadata={"description": "Downloads the bundle once written"})
    status = ma.fields.String(metadata={"description": "queued: the scheduler writes it"})


class ExportPendingSchema(ma.Schema):
    export_id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "queued or running"})
    requested_at = Timestamp()
