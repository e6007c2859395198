"""Marshmallow schemas of the retention API."""

from __future__ import annotations

import marshmallow as ma

from consentry import queue
from consentry.fields import SubjectId, Timestamp
from consentry.pagination import page_schema

# A run is never held; an erasure is never abandoned (it is queued again).
RUN_STATUSES = tuple(s for s in queue.STATUSES if s != queue.HELD)
ERASURE_STATUSES = (queue.QUEUED, queue.RUNNING, queue.HELD, queue.SUCCEEDED, queue.FAILED)


class ListQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 1000))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(1, 500))


class RunListQuerySchema(ListQuerySchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(RUN_STATUSES))


class HoldListQuerySchema(ListQuerySchema):
    include_lifted = ma.fields.Boolean(load_default=False)


class RunRequestSchema(ma.Schema):
    dry_run = ma.fields.Boolean(load_default=True, metadata={
        "description": "Only count (the default); a real purge says `\"dry_run\": false`"})
    targets = ma.fields.List(ma.fields.String(validate=ma.validate.Length(1, 200)),
                             load_default=None, allow_none=True,
                             validate=ma.validate.Length(max=1000),
                             metadata={"description": "Target names; leave out for every target"})


class RunQueuedSchema(ma.Schema):
    run_id = ma.fields.String(required=True)
    status = ma.fields.String()


class TargetReportSchema(ma.Schema):
    name = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": ["store", "external"],
                                      "description": "In erasures: an own store or an "
                                                     "external target"})
    status = ma.fields.String(metadata={"enum": ["pending", "running", "succeeded", "failed",
                                                 "skipped"]})
    matched = ma.fields.Integer()
    deleted = ma.fields.Integer()
    held = ma.fields.Integer(metadata={"description": "Rows skipped for legal holds"})
    would_delete = ma.fields.Integer(metadata={
        "description": "Dry runs only: the rows a real run would delete now (expired and "
                       "kept by no hold); `held` counts the expired rows holds keep"})
    error = ma.fields.String(allow_none=True)
    timestamp_form = ma.fields.String()
    longest_batch_ms = ma.fields.Float()
    batches = ma.fields.Integer()


class TotalsSchema(ma.Schema):
    matched = ma.fields.Integer()
    deleted = ma.fields.Integer()
    held = ma.fields.Integer()
    would_delete = ma.fields.Integer(metadata={"description": "Dry runs only"})


class RunSchema(ma.Schema):
    run_id = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(RUN_STATUSES)})
    dry_run = ma.fields.Boolean()
    trigger = ma.fields.String()
    requested_by = ma.fields.String()
    targets_requested = ma.fields.List(ma.fields.String(), allow_none=True)
    scheduled_for = ma.fields.String(allow_none=True)
    resumes = ma.fields.String(allow_none=True)
    cutoffs = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(allow_none=True),
                             metadata={"description": "Class → cutoff (null: kept)"})
    targets = ma.fields.List(ma.fields.Nested(TargetReportSchema))
    totals = ma.fields.Nested(TotalsSchema)
    policy_version = ma.fields.String(allow_none=True)
    created_at = ma.fields.String()
    started_at = ma.fields.String(allow_none=True)
    finished_at = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)


RunListSchema = page_schema("RunList", "runs", RunSchema)


class HoldRequestSchema(ma.Schema):
    subject_id = SubjectId(load_default=None)
    category = ma.fields.String(load_default=None, validate=ma.validate.Length(1, 64))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(1, 2000))
    until = Timestamp(load_default=None, allow_none=True)


class HoldSchema(ma.Schema):
    id = ma.fields.String()
    subject_id = ma.fields.String(allow_none=True, metadata={
        "description": "null for a category hold, and for a lifted hold whose subject "
                       "was erased since"})
    category = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True, metadata={
        "description": "A subject hold's reason is sealed under the subject's audit key: "
                       "null once the subject is erased"})
    until = ma.fields.String(allow_none=True)
    created_by = ma.fields.String()
    created_at = ma.fields.String()
    lifted_at = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean()


HoldListSchema = page_schema("HoldList", "holds", HoldSchema)


class RetentionPolicySchema(ma.Schema):
    policy_version = ma.fields.String()
    classes = ma.fields.List(ma.fields.Dict())
    decisions_class = ma.fields.String()
    targets = ma.fields.List(ma.fields.Dict())
    schedule = ma.fields.String()


class ErasureRequestSchema(ma.Schema):
    reason = ma.fields.String(load_default=None, allow_none=True,
                              validate=ma.validate.Length(max=500), metadata={
                                  "description": "Why, or a ticket reference (DSR-1234); "
                                                 "kept with the erasure"})


ErasureListQuerySchema = ListQuerySchema


class ErasureQueuedSchema(ma.Schema):
    erasure_id = ma.fields.String(required=True)
    status = ma.fields.String()


class RecipientNotifiedSchema(ma.Schema):
    recipient = ma.fields.String(metadata={"description": "A recipient id of the policy"})
    first_sent_at = ma.fields.String(allow_none=True, metadata={
        "description": "When the erasure.completed notice first left for it"})
    acknowledged_at = ma.fields.String(allow_none=True, metadata={
        "description": "When a 2xx answer first acknowledged it; null: never (a finding)"})


class ErasureSchema(ma.Schema):
    erasure_id = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(ERASURE_STATUSES), "description":
                                        "held: waiting for the legal holds in "
                                        "waiting_for_holds to lift or end"})
    subject_ref = ma.fields.String()
    waiting_for_holds = ma.fields.List(ma.fields.String(), metadata={
        "description": "Ids of the holds a held erasure waits for"})
    requested_by = ma.fields.String()
    reason = ma.fields.String(allow_none=True,
                              metadata={"description": "Why, or a ticket reference"})
    created_at = ma.fields.String()
    started_at = ma.fields.String(allow_none=True)
    finished_at = ma.fields.String(allow_none=True)
    targets = ma.fields.List(ma.fields.Nested(TargetReportSchema))
    error = ma.fields.String(allow_none=True)
    certificate = ma.fields.Dict(allow_none=True, metadata={
        "description": "{document, signature}: the signature (Ed25519, canonical JSON) "
                       "verifies with the key of its kid at /.well-known/consentry-keys"})
    recipients_notified = ma.fields.List(ma.fields.Nested(RecipientNotifiedSchema), metadata={
        "description": "GET /v1/erasures/{id} only: each recipient told of the erasure "
                       "(the erasure.completed webhook), when first sent and acknowledged"})


ErasureListSchema = page_schema("ErasureList", "erasures", ErasureSchema)
