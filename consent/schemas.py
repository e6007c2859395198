"""Marshmallow schemas of the consent API."""

from __future__ import annotations

import marshmallow as ma


class PolicyCategorySchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    sensitivity = ma.fields.String(metadata={"enum": ["standard", "sensitive", "special"]})
    retention_class = ma.fields.String()
    labels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class PolicyPurposeSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()


class PolicyJurisdictionSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    basis = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                           metadata={"description": "Default basis per purpose: opt_in|opt_out"})
    gpc = ma.fields.Boolean()
    sale_sharing_purposes = ma.fields.List(ma.fields.String())


class PolicyChannelSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()


class PolicySchema(ma.Schema):
    version = ma.fields.String()
    controller = ma.fields.String()
    policy_url = ma.fields.String()
    preference_center_url = ma.fields.String(allow_none=True)
    default_jurisdiction = ma.fields.String()
    token_max_age_seconds = ma.fields.Integer()
    consent_max_age_days = ma.fields.Integer(allow_none=True)
    purposes = ma.fields.List(ma.fields.Nested(PolicyPurposeSchema))
    categories = ma.fields.List(ma.fields.Nested(PolicyCategorySchema))
    channels = ma.fields.List(ma.fields.Nested(PolicyChannelSchema))
    jurisdictions = ma.fields.List(ma.fields.Nested(PolicyJurisdictionSchema))
    retention = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(allow_none=True),
        metadata={"description": "Retention class → days (null: kept while the account lives)"})
