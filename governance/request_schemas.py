"""Marshmallow schemas of the privacy requests API (API.md "Privacy requests")."""

from __future__ import annotations

import marshmallow as ma

from consentry.fields import SubjectId, Timestamp
from consentry.pagination import PageArgsSchema, page_schema
from governance.privacy_requests import (
    MAX_NOTE,
    MAX_REASON,
    OPEN_FILTER,
    STATUSES,
    TARGETS,
    TYPES,
)

_ID = ma.validate.Length(min=1, max=64)


class RequestCreateSchema(ma.Schema):
    subject_id = SubjectId(required=True)
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(TYPES))
    jurisdiction = ma.fields.String(load_default=None, validate=_ID, metadata={
        "description": "A jurisdiction of the policy (its `request_due` sets `due_at`); "
                       "the policy's default when left out"})
    source = ma.fields.String(required=True, validate=_ID, metadata={
        "description": "Where the request came from: `api`, `console`, `preference_page`, "
                       "`email`, ..."})
    received_at = Timestamp(load_default=None, metadata={
        "description": "When the person made the request (default now; not in the future)"})
    note = ma.fields.String(load_default=None, allow_none=True,
                            validate=ma.validate.Length(max=MAX_NOTE), metadata={
                                "description": "Free text kept with the request (cleared "
                                               "when the subject is erased)"})


class RequestListQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default=None,
                              validate=ma.validate.OneOf((*STATUSES, OPEN_FILTER)),
                              metadata={"description": "A status, or `open` for received, "
                                                       "in_progress and extended"})
    type = ma.fields.String(load_default=None, validate=ma.validate.OneOf(TYPES))
    jurisdiction = ma.fields.String(load_default=None, validate=_ID)
    due_before = Timestamp(load_default=None)
    subject_id = SubjectId(load_default=None)


class RequestTransitionSchema(ma.Schema):
    to = ma.fields.String(required=True, validate=ma.validate.OneOf(TARGETS))
    reason = ma.fields.String(load_default=None, allow_none=True,
                              validate=ma.validate.Length(max=MAX_REASON),
                              metadata={"description": "Required for `rejected`"})


class RequestExtendSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=MAX_REASON),
                              metadata={"description": "Why: the person must be told"})


class RequestStepSchema(ma.Schema):
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    at = Timestamp()
    actor = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    due_at = Timestamp(allow_none=True, metadata={
        "description": "The due date this step set (on creation and extension)"})


class RequestSchema(ma.Schema):
    request_id = ma.fields.String()
    subject_id = ma.fields.String()
    type = ma.fields.String(metadata={"enum": list(TYPES)})
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    jurisdiction = ma.fields.String()
    source = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    received_at = Timestamp()
    due_at = Timestamp()
    extended = ma.fields.Boolean()
    days_left = ma.fields.Integer(allow_none=True, metadata={
        "description": "Whole days until due_at (negative once overdue); null once closed"})
    overdue = ma.fields.Boolean()
    closed_at = Timestamp(allow_none=True)
    created_by = ma.fields.String()
    export_id = ma.fields.String(allow_none=True, metadata={
        "description": "The subject access bundle of a completed access request "
                       "(`GET /v1/audit/exports/{export_id}`)"})
    export_status = ma.fields.String(metadata={
        "description": "The bundle's state: queued, running, ready, failed, expired, erased"})
    erasure_id = ma.fields.String(allow_none=True, metadata={
        "description": "The erasure a completed erasure request started"})
    erasure_status = ma.fields.String(metadata={
        "description": "The erasure's status: `held` while a legal hold makes it wait"})
    waiting_for_holds = ma.fields.List(ma.fields.String())
    history = ma.fields.List(ma.fields.Nested(RequestStepSchema))


RequestListSchema = page_schema("RequestList", "requests", RequestSchema)
