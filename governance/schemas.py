"""Marshmallow schemas of the governance API: recipes and their reach."""

from __future__ import annotations

import marshmallow as ma

from consent.schemas import ReceiptControllerSchema
from consentry.fields import Timestamp
from consentry.policy import RECIPIENT_ROLES
from governance.recipes import STATUSES
from governance.reports import DPIA_CRITERIA, FINDINGS

_TEXT = ma.validate.Length(min=1, max=2000)


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


def _ids(max_items: int, description: str) -> ma.fields.List:
    return ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                          validate=ma.validate.Length(max=max_items),
                          metadata={"description": description})


class RecipeWriteSchema(StrictSchema):
    """One personalized interaction, written down before it ships."""

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    purpose = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    channels = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=32)),
                              required=True, validate=ma.validate.Length(min=1, max=20))
    surface = ma.fields.String(load_default=None, allow_none=True,
                               validate=ma.validate.Length(min=1, max=100))
    trigger = ma.fields.String(required=True, validate=_TEXT)
    audience = ma.fields.String(required=True, validate=_TEXT)
    action = ma.fields.String(required=True, validate=_TEXT, metadata={
        "description": "What it does, in plain words (explanations show it)"})
    categories = _ids(50, "The signal categories it needs (the policy's ids)")
    categories.required = True
    explicit_grants = _ids(50, "For each sensitive or special category: the category whose "
                               "explicit grant the recipe relies on")
    explicit_grants.load_default = list
    fallback = ma.fields.String(load_default=None, allow_none=True, validate=_TEXT)
    success_metric = ma.fields.String(required=True, validate=_TEXT)
    owner = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES))

    @ma.post_load
    def _dedupe(self, data, **_kwargs):
        for name in ("channels", "categories", "explicit_grants"):
            data[name] = list(dict.fromkeys(data[name]))
        return data


class RequiredGrantSchema(ma.Schema):
    category = ma.fields.String()
    purpose = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["granted"]})


class RecipeSchema(ma.Schema):
    recipe_id = ma.fields.String()
    version = ma.fields.Integer()
    name = ma.fields.String()
    purpose = ma.fields.String()
    channels = ma.fields.List(ma.fields.String())
    surface = ma.fields.String(allow_none=True)
    trigger = ma.fields.String()
    audience = ma.fields.String()
    action = ma.fields.String()
    categories = ma.fields.List(ma.fields.String())
    explicit_grants = ma.fields.List(ma.fields.String())
    required_grants = ma.fields.List(ma.fields.Nested(RequiredGrantSchema), metadata={
        "description": "The grant the policy requires for each sensitive or special category"})
    fallback = ma.fields.String(allow_none=True)
    success_metric = ma.fields.String()
    owner = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    saved_at = Timestamp()
    saved_by = ma.fields.String()


class RecipeListSchema(ma.Schema):
    recipes = ma.fields.List(ma.fields.Nested(RecipeSchema))


class RecipeQuerySchema(ma.Schema):
    version = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=2**31 - 1),
                                metadata={"description": "An older version (default: latest)"})


class ChannelReachSchema(ma.Schema):
    eligible = ma.fields.Integer()
    blocked_by = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "Subjects per blocking reason: a reason that stops the whole purpose "
                       "(`personalization_off`, `gpc`, ...) alone, else `<category>:<reason>`"})


class ReachSchema(ma.Schema):
    recipe_id = ma.fields.String()
    version = ma.fields.Integer()
    subjects = ma.fields.Integer()
    channels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(ChannelReachSchema))
    evaluated_at = Timestamp()


class MinimizationQuerySchema(ma.Schema):
    since = Timestamp(load_default=None, metadata={"description": "Default: a year before "
                                                                  "`until`"})
    until = Timestamp(load_default=None, metadata={"description": "Default: now"})

    @ma.validates_schema
    def _order(self, data, **_kwargs):
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ma.ValidationError("Must not lie after until.", "since")


class CollectedInSchema(ma.Schema):
    targets = ma.fields.List(ma.fields.String(), metadata={
        "description": "Retention targets whose class covers it or that have a category "
                       "column (which may hold any category)"})
    stores = ma.fields.List(ma.fields.String())


class CategoryUseSchema(ma.Schema):
    category = ma.fields.String()
    label = ma.fields.String()
    sensitivity = ma.fields.String()
    collected_in = ma.fields.Nested(CollectedInSchema)
    declared_by = ma.fields.List(ma.fields.String(), metadata={"description": "Live recipes"})
    decisions = ma.fields.Integer()
    violations = ma.fields.Integer()
    last_used_at = Timestamp(allow_none=True)
    finding = ma.fields.String(metadata={"enum": list(FINDINGS), "description":
                                         "`unused`: collected, declared by no live recipe "
                                         "and used by no decision: stop collecting it"})


class MinimizationSchema(ma.Schema):
    since = Timestamp()
    until = Timestamp()
    generated_at = Timestamp()
    policy_version = ma.fields.String()
    categories = ma.fields.List(ma.fields.Nested(CategoryUseSchema))


class ProcessingQuerySchema(ma.Schema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "csv"]))


class RecordCategorySchema(ma.Schema):
    category = ma.fields.String()
    label = ma.fields.String()
    sensitivity = ma.fields.String()
    retention_days = ma.fields.Integer(allow_none=True, metadata={
        "description": "null: kept while the account lives"})
    stored_in = ma.fields.List(ma.fields.String())
    legal_basis_text = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                      metadata={"description": "Jurisdiction → the basis for "
                                                "this category in the law's words (a sensitive "
                                                "or special one: its own grant's condition)"})


class RecordRecipientSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "The policy's recipient id"})
    name = ma.fields.String()
    role = ma.fields.String(metadata={"enum": list(RECIPIENT_ROLES)})
    dpv_role = ma.fields.String()
    country = ma.fields.String(allow_none=True, metadata={"description": "ISO 3166-1 alpha-2"})
    categories = ma.fields.List(ma.fields.String(), metadata={
        "description": "The categories it receives (empty: not stated)"})
    third_country = ma.fields.Boolean(metadata={"description": "Outside the EU/EEA"})
    transfer_safeguard = ma.fields.String(allow_none=True)
    sale_sharing = ma.fields.Boolean(metadata={
        "description": "Handing data to it is a sale or share under the CCPA"})


class RecordTransferSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "The recipient's id"})
    name = ma.fields.String()
    country = ma.fields.String()
    transfer_safeguard = ma.fields.String(metadata={"description": "GDPR Art. 46"})


class RecordRecipeSchema(ma.Schema):
    recipe_id = ma.fields.String()
    version = ma.fields.Integer()
    name = ma.fields.String()
    channels = ma.fields.List(ma.fields.String())


class DpiaCriterionSchema(ma.Schema):
    criterion = ma.fields.String(metadata={"enum": list(DPIA_CRITERIA)})
    categories = ma.fields.List(ma.fields.String())
    recipes = ma.fields.List(ma.fields.String())
    reach = ma.fields.Integer()
    threshold = ma.fields.Integer()


class DpiaSchema(ma.Schema):
    criteria = ma.fields.List(ma.fields.Nested(DpiaCriterionSchema))
    reach = ma.fields.Integer(allow_none=True)
    dpia_recommended = ma.fields.Boolean(metadata={"description": "Two or more criteria met"})
    reasons = ma.fields.List(ma.fields.String(metadata={"enum": list(DPIA_CRITERIA)}))


class ActivitySchema(ma.Schema):
    purpose = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    controller = ma.fields.String()
    categories = ma.fields.List(ma.fields.Nested(RecordCategorySchema))
    legal_basis = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                 metadata={"description": "Jurisdiction → opt_in | opt_out"})
    legal_basis_text = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                      metadata={"description": "Jurisdiction → the basis in the "
                                                "words of its law (e.g. `GDPR Art. 6(1)(a) "
                                                "consent`)"})
    data_subjects = ma.fields.List(ma.fields.String(), metadata={
        "description": "The categories of data subjects (Art. 30(1)(c)): the purpose's, else "
                       "the policy's; empty: the policy states none"})
    recipients = ma.fields.List(ma.fields.Nested(RecordRecipientSchema), metadata={
        "description": "The policy's recipients of this purpose (Art. 30(1)(d))"})
    transfers = ma.fields.List(ma.fields.Nested(RecordTransferSchema), metadata={
        "description": "Transfers to third countries with their safeguards (Art. 30(1)(e))"})
    recipes = ma.fields.List(ma.fields.Nested(RecordRecipeSchema))
    dpia = ma.fields.Nested(DpiaSchema)


class ProcessingRecordsSchema(ma.Schema):
    controller = ma.fields.String()
    controller_contact = ma.fields.Nested(ReceiptControllerSchema, metadata={
        "description": "The controller and its DPO (Art. 30(1)(a)), as receipts name them: "
                       "only `name` when the policy's `controller` is a name alone"})
    policy_version = ma.fields.String()
    policy_url = ma.fields.String()
    generated_at = Timestamp()
    data_subjects = ma.fields.List(ma.fields.String(), metadata={
        "description": "The policy's categories of data subjects"})
    security_measures = ma.fields.List(ma.fields.String(), metadata={
        "description": "A general description of the technical and organisational security "
                       "measures (Art. 30(1)(g), 32)"})
    activities = ma.fields.List(ma.fields.Nested(ActivitySchema))
