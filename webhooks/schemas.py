"""Marshmallow schemas of the webhooks API (API.md "Recipients and webhooks")."""

from __future__ import annotations

import marshmallow as ma

from consentry.fields import Timestamp
from consentry.pagination import PageArgsSchema, page_schema
from webhooks.service import DELIVERY_STATUSES, EVENT_TYPES, MAX_URL


class WebhookPutSchema(ma.Schema):
    url = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=MAX_URL),
                           metadata={"description": "https only (unless "
                                     "CONSENTRY_WEBHOOK_ALLOW_HTTP=1); never a loopback, "
                                     "private, link-local or metadata address"})
    recipient = ma.fields.String(load_default=None, allow_none=True,
                                 validate=ma.validate.Length(min=1, max=64), metadata={
                                     "description": "A recipient id of the policy; null: an "
                                                    "engine of the service (every purpose)"})
    events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(EVENT_TYPES)),
                            required=True, validate=ma.validate.Length(min=1, max=10))
    enabled = ma.fields.Boolean(load_default=True)


class DeliveryCountsSchema(ma.Schema):
    pending = ma.fields.Integer()
    delivered = ma.fields.Integer()
    failed = ma.fields.Integer()
    retrying = ma.fields.Integer(metadata={"description": "Pending after a failed attempt"})


class WebhookSchema(ma.Schema):
    webhook_id = ma.fields.String()
    url = ma.fields.String()
    recipient = ma.fields.String(allow_none=True)
    events = ma.fields.List(ma.fields.String(metadata={"enum": list(EVENT_TYPES)}))
    enabled = ma.fields.Boolean()
    disabled_reason = ma.fields.String(allow_none=True, metadata={
        "description": "`failing`: switched off after failing for 5 days; `by_admin`"})
    failing_since = Timestamp(allow_none=True)
    previous_secret_valid_until = Timestamp(allow_none=True, metadata={
        "description": "Until when the secret before the last rotation also signs"})
    created_at = Timestamp()
    updated_at = Timestamp()
    deliveries = ma.fields.Nested(DeliveryCountsSchema)
    secret = ma.fields.String(metadata={"description": "`whsec_...`: shown once, when the "
                                                       "endpoint is registered or rotated"})


class WebhookListSchema(ma.Schema):
    webhooks = ma.fields.List(ma.fields.Nested(WebhookSchema))


class SecretSchema(ma.Schema):
    webhook_id = ma.fields.String()
    secret = ma.fields.String(metadata={"description": "The new `whsec_...` secret, shown once"})
    previous_secret_valid_until = Timestamp()


class DeliveryQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATUSES))


class DeliverySchema(ma.Schema):
    delivery_id = ma.fields.String()
    event_id = ma.fields.String(metadata={"description": "The `webhook-id` header"})
    type = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = ma.fields.Integer()
    last_response_status = ma.fields.Integer(allow_none=True)
    last_duration_ms = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    next_attempt_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    delivered_at = Timestamp(allow_none=True)


DeliveryListSchema = page_schema("DeliveryList", "deliveries", DeliverySchema)


class RetryQueuedSchema(ma.Schema):
    delivery_id = ma.fields.String()
    status = ma.fields.String()
    next_attempt_at = Timestamp()
