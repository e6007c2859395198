"""Marshmallow schemas of the consent API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import marshmallow as ma

from consent.decisions import MAX_BATCH_DECISIONS, MAX_EXPLANATIONS_PAGE, RECIPE_REASONS
from consent.gate import REASONS
from consent.ledger import CHOICE_STATUSES, MAX_CHOICES, OPT_OUT_SCOPES
from consent.signals import MAX_BATCH_SUBJECTS
from consentry.fields import QueryList, SignatureSchema, SubjectId, Timestamp
from consentry.pagination import MAX_LIMIT, page_schema
from consentry.policy import BASES, SENSITIVITIES


class PolicyCategorySchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    sensitivity = ma.fields.String(metadata={"enum": list(SENSITIVITIES)})
    retention_class = ma.fields.String()
    labels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                            metadata={"description": "The label in every language (`label` is "
                                                     "the one `Accept-Language` asked for)"})
    descriptions = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                  metadata={"description": "The description in every language"})


class PolicyPurposeSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    labels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                            metadata={"description": "The label in every language (`label` is "
                                                     "the one `Accept-Language` asked for)"})
    descriptions = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                  metadata={"description": "The description in every language"})


class PolicyJurisdictionSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    basis = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                           metadata={"description": "Default basis per purpose: "
                                                    + "|".join(BASES)})
    gpc = ma.fields.Boolean()
    sale_sharing_purposes = ma.fields.List(ma.fields.String())


class PolicyChannelSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()


class PolicySchema(ma.Schema):
    version = ma.fields.String()
    language = ma.fields.String(metadata={"description": "The language of `label` and "
                                                         "`description` (`Accept-Language`)"})
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


REASON_CODES = list(REASONS)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class StrictSchema(ma.Schema):
    """Unknown fields are a 422, so a typo never silently drops a choice."""

    class Meta:
        unknown = ma.RAISE


class ChoiceSchema(StrictSchema):
    purpose = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    category = ma.fields.String(load_default=None, allow_none=True,
                                validate=ma.validate.Length(min=1, max=64))
    channel = ma.fields.String(load_default=None, allow_none=True,
                               validate=ma.validate.Length(min=1, max=32))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(CHOICE_STATUSES))


class EvidenceSchema(StrictSchema):
    user_agent = ma.fields.String(load_default=None, allow_none=True,
                                  validate=ma.validate.Length(max=2048))
    ip = ma.fields.String(load_default=None, allow_none=True,
                          validate=ma.validate.Length(max=64),
                          metadata={"description": "Never stored in clear: truncated to /24 "
                                                   "(IPv6 /48) and keyed-hashed."})


class ConsentWriteSchema(StrictSchema):
    jurisdiction = ma.fields.String(load_default=None, allow_none=True,
                                    validate=ma.validate.Length(max=32))
    source = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    notice_version = ma.fields.String(load_default=None, allow_none=True,
                                      validate=ma.validate.Length(max=64))
    choices = ma.fields.List(ma.fields.Nested(ChoiceSchema), required=True,
                             validate=ma.validate.Length(max=MAX_CHOICES), metadata={
                                 "description": "At least one, unless the request carries "
                                                "GPC: `[]` then records the signal alone"})
    evidence = ma.fields.Nested(EvidenceSchema, load_default=None, allow_none=True)
    gpc = ma.fields.Boolean(load_default=False)


class ImportRecordSchema(StrictSchema):
    """One line of `flask consents import`: a subject's choices made together, then."""

    subject_id = SubjectId(required=True)
    recorded_at = Timestamp(required=True)
    jurisdiction = ma.fields.String(load_default=None, allow_none=True,
                                    validate=ma.validate.Length(max=32))
    source = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    choices = ma.fields.List(ma.fields.Nested(ChoiceSchema), required=True,
                             validate=ma.validate.Length(min=1, max=MAX_CHOICES))
    notice_version = ma.fields.String(load_default=None, allow_none=True,
                                      validate=ma.validate.Length(max=64))
    evidence = ma.fields.Nested(EvidenceSchema, load_default=None, allow_none=True)


class MomentOrDay(ma.fields.Field):
    """An RFC 3339 timestamp (a `Timestamp`), or a plain date `YYYY-MM-DD`: the start of
    that day in UTC."""

    _moment = Timestamp()

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("anyOf", [
            {"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}])
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        if isinstance(value, str) and _DAY.fullmatch(value):
            try:
                return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
            except ValueError as exc:
                raise ma.ValidationError("Not a valid date.") from exc
        return self._moment.deserialize(value, attr, data, **kwargs)


class ConsentQuerySchema(ma.Schema):
    at = MomentOrDay(load_default=None, metadata={
        "description": "The state at that moment: RFC 3339 (`2026-03-01T12:00:00Z`), or a "
                       "date (`2026-03-01`: the start of that day in UTC)"})
    jurisdiction = ma.fields.String(load_default=None,
                                    metadata={"description": "For a subject with none recorded"})


class ConsentEntrySchema(ma.Schema):
    purpose = ma.fields.String()
    category = ma.fields.String(allow_none=True, metadata={
        "description": "null: the purpose's own row (its toggle), first for each purpose"})
    channel = ma.fields.String(allow_none=True)
    allowed = ma.fields.Boolean()
    reason = ma.fields.String(metadata={"enum": REASON_CODES})
    since = Timestamp(allow_none=True)
    purpose_label = ma.fields.String(metadata={"description": "In the answer's `language`"})
    category_label = ma.fields.String(allow_none=True,
                                      metadata={"description": "In the answer's `language`"})


class ConsentStateSchema(ma.Schema):
    subject_id = ma.fields.String()
    jurisdiction = ma.fields.String()
    personalization_off = ma.fields.Boolean()
    sale_sharing_opt_out = ma.fields.Boolean()
    gpc = ma.fields.Boolean()
    policy_version = ma.fields.String()
    evaluated_at = Timestamp()
    at = Timestamp(allow_none=True)
    language = ma.fields.String(metadata={"description": "Of the labels: en or de, "
                                                         "from `Accept-Language`"})
    entries = ma.fields.List(ma.fields.Nested(ConsentEntrySchema))


class ReceiptSchema(ma.Schema):
    """A consent receipt (after ISO/IEC TS 27560 and the Kantara Consent Receipt)."""

    class Meta:
        unknown = ma.INCLUDE

    version = ma.fields.String()
    receipt_id = ma.fields.String()
    issued_at = ma.fields.String()
    subject_id = ma.fields.String()
    jurisdiction = ma.fields.String()
    collection_method = ma.fields.String()
    notice_version = ma.fields.String(allow_none=True)
    policy_version = ma.fields.String()
    policy_digest = ma.fields.String(metadata={"description": "SHA-256 of the policy in force"})
    controller = ma.fields.Dict()
    policy_url = ma.fields.String()
    choices = ma.fields.List(ma.fields.Dict())
    imported = ma.fields.Boolean(metadata={
        "description": "Present (true) on a receipt of an imported historical record"})
    recorded_at = ma.fields.String(metadata={
        "description": "On an imported record: when its choices were made (`issued_at` is "
                       "when it was imported)"})
    signature = ma.fields.Nested(SignatureSchema,
                                 metadata={"description": "Ed25519 over the canonical JSON of "
                                                          "the receipt without `signature`; "
                                                          "keys at /.well-known/consentry-keys"})


class KeptSwitchSchema(ma.Schema):
    switch = ma.fields.String(metadata={"enum": ["sale_sharing_opt_out"]})
    reason = ma.fields.String(metadata={"enum": ["gpc"]})


class ConsentWriteResultSchema(ConsentStateSchema):
    receipt = ma.fields.Nested(ReceiptSchema)
    kept = ma.fields.List(ma.fields.Nested(KeptSwitchSchema), metadata={
        "description": "On an undo (`DELETE .../opt-out`): the switches left on, and why "
                       "(a request carrying GPC cannot undo the sale/sharing opt-out)"})


class EventSchema(ma.Schema):
    event_id = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": ["choice", "switch"]})
    purpose = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    channel = ma.fields.String(allow_none=True)
    switch = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    jurisdiction = ma.fields.String(allow_none=True)
    source = ma.fields.String()
    notice_version = ma.fields.String(allow_none=True)
    evidence = ma.fields.Dict(allow_none=True)
    receipt_id = ma.fields.String(allow_none=True)
    actor = ma.fields.String()
    received_at = Timestamp(metadata={"description": "When the service received it"})
    occurred_at = Timestamp(metadata={
        "description": "When the choice was made (what `?at=` goes by): received_at for a "
                       "live write, the record's own time for an imported one"})


HistorySchema = page_schema("History", "events", EventSchema)


class OptOutSchema(StrictSchema):
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf(list(OPT_OUT_SCOPES)))
    source = ma.fields.String(load_default="preference_center",
                              validate=ma.validate.Length(min=1, max=64))
    gpc = ma.fields.Boolean(load_default=False)


class OptOutQuerySchema(ma.Schema):
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf(list(OPT_OUT_SCOPES)))
    source = ma.fields.String(load_default="preference_center",
                              validate=ma.validate.Length(min=1, max=64))


class DeniedSchema(ma.Schema):
    category = ma.fields.String()
    reason = ma.fields.String(metadata={"enum": REASON_CODES})


class AllowedSignalsQuerySchema(ma.Schema):
    purpose = ma.fields.String(required=True)
    channel = ma.fields.String(load_default=None)
    jurisdiction = ma.fields.String(load_default=None, metadata={
        "description": "Used when the subject has none recorded (else the policy default)"})
    categories = QueryList(ma.fields.String(), metadata={
        "description": "Repeated (`categories=a&categories=b`) or comma-separated, or "
                       "both; default: every category of the policy"})


class SignalLimitsSchema(ma.Schema):
    max_signal_age_days = ma.fields.Integer(allow_none=True, metadata={
        "description": "Signals older than this may not be used (a decision using one is a "
                       "`signal_too_old` violation)"})
    decay_after_days = ma.fields.Integer(allow_none=True, metadata={
        "description": "Signals older than this should count for less"})


class AllowedSignalsSchema(ma.Schema):
    subject_id = ma.fields.String()
    purpose = ma.fields.String()
    channel = ma.fields.String(allow_none=True)
    jurisdiction = ma.fields.String()
    allowed = ma.fields.List(ma.fields.String())
    denied = ma.fields.List(ma.fields.Nested(DeniedSchema))
    limits = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(SignalLimitsSchema),
                            metadata={"description": "Per allowed category whose policy sets "
                                                     "them: how old its signals may be"})
    policy_version = ma.fields.String()
    evaluated_at = Timestamp()
    max_age = ma.fields.Integer()
    token = ma.fields.String(metadata={"description": "Compact JWS (EdDSA); verify offline "
                                                      "with /.well-known/consentry-keys"})


class SignalCheckSchema(StrictSchema):
    purpose = ma.fields.String(required=True)
    channel = ma.fields.String(load_default=None, allow_none=True)
    jurisdiction = ma.fields.String(load_default=None, allow_none=True)
    subjects = ma.fields.List(SubjectId(), required=True,
                              validate=ma.validate.Length(min=1, max=MAX_BATCH_SUBJECTS))
    categories = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1, max=64)), load_default=None,
        allow_none=True, metadata={"description": "Categories of the policy (at most all of "
                                                  "them; an unknown one is a 422); default: "
                                                  "every category"})


class SubjectResultSchema(ma.Schema):
    allowed = ma.fields.List(ma.fields.String())
    denied = ma.fields.List(ma.fields.Nested(DeniedSchema))
    jurisdiction = ma.fields.String()


class SignalCheckResultSchema(ma.Schema):
    results = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(SubjectResultSchema))
    policy_version = ma.fields.String()
    evaluated_at = Timestamp()


class ChangesQuerySchema(ma.Schema):
    after = ma.fields.String(load_default=None, metadata={
        "description": "Cursor from `next`; `head` to start at the newest change"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))


class ChangeSchema(ma.Schema):
    subject_id = ma.fields.String()
    changed_at = Timestamp()
    seq = ma.fields.Integer()


class ChangesSchema(ma.Schema):
    changes = ma.fields.List(ma.fields.Nested(ChangeSchema))
    next = ma.fields.String()


class TextOrTranslations(ma.fields.Field):
    """A string, or a map of language → string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) <= 1000:
            return value
        if isinstance(value, dict) and value and all(
                isinstance(k, str) and len(k) <= 8 and isinstance(v, str) and len(v) <= 1000
                for k, v in value.items()):
            return value
        raise ma.ValidationError("Must be a string or a map of language to string "
                                 "(at most 1,000 characters each).")


class ItemSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    label = TextOrTranslations(load_default=None, allow_none=True, metadata={
        "description": "A name for people, or a map of language to name "
                       "(`{\"en\": \"Trail running shoes\", \"de\": \"Trail-Laufschuhe\"}`)"})


class SignalUsedSchema(StrictSchema):
    category = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    summary = TextOrTranslations(load_default=None, allow_none=True, metadata={
        "description": "What the person did, as a phrase that completes \"because you …\" "
                       "(`viewed running shoes 3 times this month`), or a map of language to "
                       "such a phrase: in German one that completes \"weil Sie …\", verb last "
                       "(`{\"en\": \"bought hiking boots\", \"de\": \"Wanderschuhe "
                       "gekauft haben\"}`). The headline is built around it; a plain string "
                       "counts as English."})
    weight = ma.fields.Float(load_default=None, allow_none=True,
                             validate=ma.validate.Range(min=0, max=1),
                             metadata={"description": "0 to 1 (decimals kept as sent); the "
                                                      "strongest signal leads the headline"})
    observed_at = Timestamp(load_default=None, allow_none=True, metadata={
        "description": "When the oldest signal of this category was observed; older than "
                       "the category's `max_signal_age_days` at `decided_at` is a "
                       "`signal_too_old` violation"})


class RuleSchema(StrictSchema):
    id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    description = TextOrTranslations(load_default=None, allow_none=True)
    model = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


class DecisionSchema(StrictSchema):
    """A decision. Its item, signals_used and rule together store at most 16 kB as JSON
    (`consent.decisions.MAX_DECISION_BYTES`); more is a 422 naming the largest part."""

    subject_id = SubjectId(required=True)
    surface = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    channel = ma.fields.String(load_default=None, allow_none=True)
    purpose = ma.fields.String(load_default="personalization")
    item = ma.fields.Nested(ItemSchema, required=True)
    signals_used = ma.fields.List(ma.fields.Nested(SignalUsedSchema), load_default=list,
                                  validate=ma.validate.Length(max=50))
    rule = ma.fields.Nested(RuleSchema, load_default=None, allow_none=True)
    decided_at = Timestamp(required=True)
    recipe_id = ma.fields.String(load_default=None, allow_none=True,
                                 validate=ma.validate.Length(min=1, max=100), metadata={
                                     "description": "The recipe this decision follows: a "
                                                    "category it does not declare is an "
                                                    "`undeclared_category` violation; an "
                                                    "unknown or retired recipe is a 422"})


class DecisionBatchSchema(StrictSchema):
    decisions = ma.fields.List(
        ma.fields.Nested(DecisionSchema), required=True,
        validate=ma.validate.Length(min=1, max=MAX_BATCH_DECISIONS),
        metadata={"description": f"Up to {MAX_BATCH_DECISIONS:,} decisions, each as "
                                 "`POST /v1/decisions` takes it"})


class ViolationSchema(ma.Schema):
    category = ma.fields.String()
    reason = ma.fields.String(metadata={"enum": REASON_CODES + list(RECIPE_REASONS)})


class DecisionResultSchema(ma.Schema):
    decision_id = ma.fields.String()
    conformant = ma.fields.Boolean()
    violations = ma.fields.List(ma.fields.Nested(ViolationSchema))


class DecisionBatchResultSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(DecisionResultSchema), metadata={
        "description": "One result per decision, in the order they were sent"})


class ExplanationReasonSchema(ma.Schema):
    category = ma.fields.String()
    label = ma.fields.String()
    summary = ma.fields.String(allow_none=True)
    allowed_at_the_time = ma.fields.Boolean()
    note = ma.fields.String()


class ControlSchema(ma.Schema):
    action = ma.fields.String(metadata={"enum": ["deny_category", "personalization_off",
                                                 "open_preference_center"]})
    category = ma.fields.String()
    purpose = ma.fields.String()
    label = ma.fields.String()
    url = ma.fields.String()


class ExplanationRecipeSchema(ma.Schema):
    recipe_id = ma.fields.String()
    version = ma.fields.Integer()
    name = ma.fields.String()
    action = ma.fields.String(metadata={"description": "What the recipe does, in plain words"})


class ExplanationSchema(ma.Schema):
    decision_id = ma.fields.String()
    subject_id = ma.fields.String()
    surface = ma.fields.String()
    item = ma.fields.Dict()
    headline = ma.fields.String()
    reasons = ma.fields.List(ma.fields.Nested(ExplanationReasonSchema))
    rule = ma.fields.Dict(allow_none=True)
    recipe = ma.fields.Nested(ExplanationRecipeSchema, allow_none=True, metadata={
        "description": "The recipe the decision followed, if it named one"})
    controls = ma.fields.List(ma.fields.Nested(ControlSchema))
    conformant = ma.fields.Boolean()
    policy_version = ma.fields.String()
    decided_at = Timestamp()
    language = ma.fields.String()


class ExplanationListQuerySchema(ma.Schema):
    surface = ma.fields.String(load_default=None)
    limit = ma.fields.Integer(load_default=50,
                              validate=ma.validate.Range(min=1, max=MAX_EXPLANATIONS_PAGE),
                              metadata={"description": "At most 100: each explanation carries "
                                                       "its decision (up to 16 kB)"})
    cursor = ma.fields.String(load_default=None)


ExplanationListSchema = page_schema("ExplanationList", "explanations", ExplanationSchema)


class CategoryShareSchema(ma.Schema):
    category = ma.fields.String()
    decisions = ma.fields.Integer()
    share = ma.fields.Float()


class SurfaceReportSchema(ma.Schema):
    surface = ma.fields.String()
    decisions = ma.fields.Integer()
    categories = ma.fields.List(ma.fields.Nested(CategoryShareSchema))
    without_personal_signals = ma.fields.Integer()
    non_profiling_share = ma.fields.Float()


class TransparencySchema(ma.Schema):
    window_days = ma.fields.Integer()
    generated_at = Timestamp()
    surfaces = ma.fields.List(ma.fields.Nested(SurfaceReportSchema))
