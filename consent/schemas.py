"""Marshmallow schemas of the consent API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import marshmallow as ma

from consent.decisions import MAX_BATCH_DECISIONS, MAX_EXPLANATIONS_PAGE, RECIPE_REASONS
from consent.gate import REASONS
from consent.ledger import CHOICE_STATUSES, MAX_CHOICES, MAX_IAB_STRING, OPT_OUT_SCOPES
from consent.receipts import FORMATS, KANTARA_VERSION, RECEIPT_VERSIONS
from consent.signals import MAX_BATCH_SUBJECTS
from consentry.fastload import FastLoad
from consentry.fields import (
    NOTICE_VERSION_PATTERN,
    NOTICE_VERSION_RULE,
    SHA256_PATTERN,
    FullMatch,
    QueryList,
    SignatureSchema,
    SubjectId,
    Timestamp,
)
from consentry.pagination import MAX_LIMIT, page_schema
from consentry.policy import BASES, RECIPIENT_ROLES, SENSITIVITIES


class PolicyCategorySchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    sensitivity = ma.fields.String(metadata={"enum": list(SENSITIVITIES)})
    retention_class = ma.fields.String()
    not_for = ma.fields.List(ma.fields.String(), metadata={
        "description": "Purposes this category is never used for, whatever was granted "
                       "(the gate answers `not_permitted_for_purpose`)"})
    labels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                            metadata={"description": "The label in every language (`label` is "
                                                     "the one `Accept-Language` asked for)"})
    descriptions = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                  metadata={"description": "The description in every language"})


class PolicyPurposeSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    dpv = ma.fields.String(allow_none=True, metadata={"description": "The W3C DPV purpose"})
    per_channel = ma.fields.Boolean(metadata={
        "description": "The person chooses this purpose per channel"})
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
    request_due = ma.fields.String(
        attribute="request_due.text",
        metadata={"description": "How long a privacy request may take (ISO 8601 duration, "
                                 "e.g. `P1M`, `P45D`)"})
    request_extension = ma.fields.String(
        attribute="request_extension.text",
        metadata={"description": "By how much a privacy request's due date may be extended, "
                                 "once (ISO 8601 duration)"})
    law = ma.fields.String(allow_none=True, metadata={
        "description": "The law whose words name its bases in the records of processing: "
                       "`gdpr`, `uk_gdpr`, `ccpa`, or null"})


class PolicyChannelSchema(ma.Schema):
    id = ma.fields.String()
    label = ma.fields.String()


class ReceiptAddressSchema(ma.Schema):
    street = ma.fields.String()
    postal_code = ma.fields.String()
    locality = ma.fields.String()
    country = ma.fields.String(metadata={"description": "ISO 3166-1 alpha-2"})


class ReceiptControllerSchema(ma.Schema):
    """The controller (dpv:hasDataController), from the policy's `[controller]`."""

    name = ma.fields.String()
    email = ma.fields.String()
    phone = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    address = ma.fields.Nested(ReceiptAddressSchema)
    dpo = ma.fields.Dict(allow_none=True, metadata={
        "description": "The data protection officer: `name`, `email` (dpv:DataProtectionOfficer)"})


class ReceiptRecipientSchema(ma.Schema):
    name = ma.fields.String()
    role = ma.fields.String(metadata={"enum": list(RECIPIENT_ROLES)})
    dpv_role = ma.fields.String()
    purposes = ma.fields.List(ma.fields.String())
    country = ma.fields.String(allow_none=True)


class PolicyRecipientSchema(ReceiptRecipientSchema):
    id = ma.fields.String(metadata={"description": "The stable id webhooks and reports use"})
    categories = ma.fields.List(ma.fields.String(), metadata={
        "description": "The signal categories it receives (empty: not stated)"})
    transfer_safeguard = ma.fields.String(allow_none=True, metadata={
        "description": "The safeguard of a transfer outside the EU/EEA (GDPR Art. 46)"})
    third_country = ma.fields.Boolean(metadata={
        "description": "Its country is outside the EU/EEA"})
    sale_sharing = ma.fields.Boolean(metadata={
        "description": "Handing data to it is a sale or share under the CCPA"})


class PolicySchema(ma.Schema):
    version = ma.fields.String()
    language = ma.fields.String(metadata={"description": "The language of `label` and "
                                                         "`description` (`Accept-Language`)"})
    controller = ma.fields.String()
    controller_contact = ma.fields.Nested(ReceiptControllerSchema, allow_none=True, metadata={
        "description": "The policy's `[controller]` table (null: only a name is given)"})
    recipients = ma.fields.List(ma.fields.Nested(PolicyRecipientSchema))
    consent_valid_days = ma.fields.Integer()
    policy_url = ma.fields.String()
    preference_center_url = ma.fields.String(allow_none=True)
    default_jurisdiction = ma.fields.String()
    token_max_age_seconds = ma.fields.Integer()
    consent_max_age_days = ma.fields.Integer(allow_none=True)
    default_notice = ma.fields.String(allow_none=True, metadata={
        "description": "The notice a consent write's bare `notice_version` names"})
    purposes = ma.fields.List(ma.fields.Nested(PolicyPurposeSchema))
    categories = ma.fields.List(ma.fields.Nested(PolicyCategorySchema))
    channels = ma.fields.List(ma.fields.Nested(PolicyChannelSchema))
    jurisdictions = ma.fields.List(ma.fields.Nested(PolicyJurisdictionSchema))
    retention = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(allow_none=True),
        metadata={"description": "Retention class → days (null: kept while the account lives)"})
    tcf = ma.fields.Dict(metadata={"description": "How TC strings map: `purposes` (policy purpose "
                                                  "→ the TCF purposes it needs, all of them) and "
                                                  "`special_features` (number → category)"})
    gpp = ma.fields.Dict(metadata={"description": "How GPP strings map: `purposes` (those a "
                                                  "sensitive-data answer is recorded for) and, "
                                                  "per section (`usnat`, `usca`), "
                                                  "`sensitive_data` (field number → category)"})


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


class TcfSchema(StrictSchema):
    tc_string = ma.fields.String(required=True,
                                 validate=ma.validate.Length(min=1, max=MAX_IAB_STRING),
                                 metadata={"description": "An IAB TCF v2.2/v2.3 TC string, as the "
                                                          "CMP stored it (core segment and any "
                                                          "optional segments)"})


class GppSchema(StrictSchema):
    gpp_string = ma.fields.String(required=True,
                                  validate=ma.validate.Length(min=1, max=MAX_IAB_STRING),
                                  metadata={"description": "An IAB GPP string; its usnat and usca "
                                                           "sections are decoded, others kept"})


class ConsentWriteSchema(FastLoad, StrictSchema):
    """A consent write (`PUT /consents`): loaded on the fast path when well-formed."""

    jurisdiction = ma.fields.String(load_default=None, allow_none=True,
                                    validate=ma.validate.Length(max=32))
    source = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    notice_version = ma.fields.String(load_default=None, allow_none=True,
                                      validate=ma.validate.Length(max=64), metadata={
                                          "description": "The notice version the person saw: "
                                                         "`<notice_id>@<version>`, or a bare "
                                                         "version of the policy's "
                                                         "`default_notice`. Once any notice "
                                                         "is recorded it must name a recorded "
                                                         "version (else a 422)"})
    choices = ma.fields.List(ma.fields.Nested(ChoiceSchema), required=True,
                             validate=ma.validate.Length(max=MAX_CHOICES), metadata={
                                 "description": "At least one, unless the request carries "
                                                "GPC: `[]` then records the signal alone"})
    evidence = ma.fields.Nested(EvidenceSchema, load_default=None, allow_none=True)
    gpc = ma.fields.Boolean(load_default=False)
    tcf = ma.fields.Nested(TcfSchema, load_default=None, allow_none=True, metadata={
        "description": "A TC string: mapped through the policy's `[tcf]` table, each signal "
                       "an event with source `tcf`; the receipt keeps the string"})
    gpp = ma.fields.Nested(GppSchema, load_default=None, allow_none=True, metadata={
        "description": "A GPP string: usnat/usca opt-outs set the sale/sharing switch, their "
                       "GPC subsection counts as GPC, sensitive-data answers map through the "
                       "policy's `[gpp]` table; other sections are kept and listed as "
                       "`ignored_sections`"})


class RejectAllSchema(StrictSchema):
    """`POST /consents/reject-all`: every purpose denied on every channel, one receipt."""

    jurisdiction = ma.fields.String(load_default=None, allow_none=True,
                                    validate=ma.validate.Length(max=32))
    source = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    notice_version = ma.fields.String(load_default=None, allow_none=True,
                                      validate=ma.validate.Length(max=64), metadata={
                                          "description": "As for `PUT /consents`"})


class ImportRecordSchema(FastLoad, StrictSchema):
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


class NoticeVersionSchema(ma.Schema):
    notice_id = ma.fields.String()
    version = ma.fields.String()
    url = ma.fields.String()
    sha256 = ma.fields.String(metadata={"description": "SHA-256 of the notice's text as "
                                                       "shown, 64 lowercase hex digits"})
    material = ma.fields.Boolean(metadata={"description": "A material change: people who "
                                                          "chose under an older version are "
                                                          "asked to consent again"})
    recorded_at = Timestamp()
    recorded_by = ma.fields.String()


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
    reconsent_needed = ma.fields.Boolean(metadata={
        "description": "The subject's latest choice that named a notice was made under an "
                       "older version than the newest material one (or no choice named a "
                       "notice while a material version exists). False without any choice "
                       "or any material notice version"})
    notice = ma.fields.Nested(NoticeVersionSchema, allow_none=True, metadata={
        "description": "The newest version of the notice in question (the one the latest "
                       "choice named, else the policy's `default_notice`); null if none is "
                       "recorded"})


class ReceiptNoticeSchema(ma.Schema):
    """The notice the person saw (dpv:hasNotice); null where the registry knows nothing."""

    notice_id = ma.fields.String(allow_none=True)
    version = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    sha256 = ma.fields.String(allow_none=True)


class ReceiptChoiceSchema(ma.Schema):
    event_id = ma.fields.String()
    purpose = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    channel = ma.fields.String(allow_none=True)
    switch = ma.fields.String()
    status = ma.fields.String()
    source = ma.fields.String()
    purpose_label = ma.fields.String(allow_none=True)
    category_label = ma.fields.String()
    basis = ma.fields.String(metadata={"enum": list(BASES)})
    lawful_basis = ma.fields.String(metadata={"description": "dpv:Consent, "
                                              "dpv:ExplicitlyExpressedConsent or "
                                              "dpv:LegitimateInterest"})
    dpv = ma.fields.String(metadata={"description": "What the choice records, as a DPV term "
                                                    "(e.g. dpv:ConsentGiven, "
                                                    "dpv:LegitimateInterestObjected)"})


class ReceiptPurposeSchema(ma.Schema):
    purpose = ma.fields.String()
    label = ma.fields.String()
    description = ma.fields.String()
    dpv_purpose = ma.fields.String(allow_none=True)
    basis = ma.fields.String(metadata={"enum": list(BASES)})
    lawful_basis = ma.fields.String(metadata={"description": "dpv:hasLegalBasis in this "
                                                             "jurisdiction"})
    right_to_object = ma.fields.Boolean(metadata={"description": "Opt-out basis: processing "
                                                                 "runs until the person objects"})
    sale_sharing = ma.fields.Boolean()
    categories = ma.fields.List(ma.fields.String(), metadata={
        "description": "Standard categories, processed on `lawful_basis`"})
    explicit_consent_categories = ma.fields.List(ma.fields.String(), metadata={
        "description": "Sensitive and special categories: each only with its own grant"})
    recipients = ma.fields.List(ma.fields.String())


class ReceiptCategorySchema(ma.Schema):
    category = ma.fields.String()
    label = ma.fields.String()
    sensitivity = ma.fields.String(metadata={"enum": list(SENSITIVITIES)})
    dpv_data = ma.fields.String()
    explicit_consent_required = ma.fields.Boolean()
    retention = ma.fields.Dict(metadata={"description": "`class`, `days`, `duration` (ISO "
                                                        "8601), `until` (null or "
                                                        "`account_closed`)"})


class ReceiptSchema(ma.Schema):
    """A consent receipt: an ISO/IEC TS 27560 consent record in W3C DPV terms
    (docs/receipts.md maps every field)."""

    class Meta:
        unknown = ma.INCLUDE

    version = ma.fields.String(required=True, metadata={
        "enum": list(RECEIPT_VERSIONS),
        "description": "consentry-receipt/2 (1: before the 27560 fields); tells a receipt "
                       "from its Kantara view (`KI-CR-v1.1.0`)"})
    receipt_id = ma.fields.String(required=True)
    issued_at = ma.fields.String()
    subject_id = ma.fields.String()
    jurisdiction = ma.fields.String()
    jurisdiction_label = ma.fields.String()
    collection_method = ma.fields.String()
    language = ma.fields.String()
    notice_version = ma.fields.String(allow_none=True)
    notice = ma.fields.Nested(ReceiptNoticeSchema)
    policy_version = ma.fields.String()
    policy_digest = ma.fields.String(metadata={"description": "SHA-256 of the policy in force"})
    controller = ma.fields.Nested(ReceiptControllerSchema)
    policy_url = ma.fields.String()
    choices = ma.fields.List(ma.fields.Nested(ReceiptChoiceSchema))
    purposes = ma.fields.List(ma.fields.Nested(ReceiptPurposeSchema))
    data_categories = ma.fields.List(ma.fields.Nested(ReceiptCategorySchema))
    recipients = ma.fields.List(ma.fields.Nested(ReceiptRecipientSchema))
    consent_validity = ma.fields.Dict(metadata={"description": "`days`, `duration`, "
                                                               "`valid_until` of a consent"})
    withdrawal = ma.fields.Dict(metadata={"description": "`url` (the preference center), "
                                                         "`api`, `consent`, `objection`"})
    tcf = ma.fields.Dict(metadata={"description": "When the write carried a TC string: "
                                                  "`tc_string` as received, its `created`, "
                                                  "`last_updated`, `cmp_id`, `cmp_version`, "
                                                  "`policy_version`, `vendor_list_version` and "
                                                  "optional `segments`"})
    gpp = ma.fields.Dict(metadata={"description": "When the write carried a GPP string: "
                                                  "`gpp_string` as received (every section "
                                                  "in it) and `sections`, the names of the "
                                                  "sections decoded"})
    imported = ma.fields.Boolean(metadata={
        "description": "Present (true) on a receipt of an imported historical record"})
    recorded_at = ma.fields.String(metadata={
        "description": "On an imported record: when its choices were made (`issued_at` is "
                       "when it was imported)"})
    signature = ma.fields.Nested(SignatureSchema, required=True,
                                 metadata={"description": "Ed25519 over the RFC 8785 (JCS) "
                                                          "canonical JSON of the receipt "
                                                          "without `signature`; keys at "
                                                          "/.well-known/consentry-keys"})


class KantaraPurposeSchema(ma.Schema):
    purpose = ma.fields.String()
    purposeCategory = ma.fields.List(ma.fields.String())
    consentType = ma.fields.String(metadata={"enum": ["EXPLICIT", "IMPLICIT"]})
    piiCategory = ma.fields.List(ma.fields.String())
    primaryPurpose = ma.fields.Boolean()
    termination = ma.fields.String()
    thirdPartyDisclosure = ma.fields.Boolean()
    thirdPartyName = ma.fields.String()


class KantaraServiceSchema(ma.Schema):
    service = ma.fields.String()
    purposes = ma.fields.List(ma.fields.Nested(KantaraPurposeSchema))


class KantaraControllerSchema(ma.Schema):
    piiController = ma.fields.String()
    contact = ma.fields.String()
    address = ma.fields.Dict(allow_none=True, metadata={"description": "schema.org "
                                                                       "PostalAddress"})
    email = ma.fields.String(allow_none=True)
    phone = ma.fields.String()
    piiControllerUrl = ma.fields.String()


class KantaraReceiptSchema(ma.Schema):
    """The Kantara Consent Receipt v1.1 view of a receipt: derived, not signed."""

    version = ma.fields.String(required=True, metadata={"enum": [KANTARA_VERSION]})
    jurisdiction = ma.fields.String()
    consentTimestamp = ma.fields.Integer(metadata={"description": "Seconds since the epoch"})
    collectionMethod = ma.fields.String()
    consentReceiptID = ma.fields.String(required=True)
    publicKey = ma.fields.String(metadata={"description": "The signing key (JWK `x`)"})
    language = ma.fields.String()
    piiPrincipalId = ma.fields.String()
    piiControllers = ma.fields.List(ma.fields.Nested(KantaraControllerSchema))
    policyUrl = ma.fields.String()
    services = ma.fields.List(ma.fields.Nested(KantaraServiceSchema))
    sensitive = ma.fields.Boolean()
    spiCat = ma.fields.List(ma.fields.String())


# The two shapes of a receipt, told apart by their required `version` (each also requires
# a property the other lacks: `receipt_id` and `signature`, or `consentReceiptID`), so a
# body matches exactly one of them.
ReceiptOrKantara = {
    "oneOf": [ReceiptSchema, KantaraReceiptSchema],
    "discriminator": {"propertyName": "version", "mapping": {
        **{version: "#/components/schemas/Receipt" for version in RECEIPT_VERSIONS},
        KANTARA_VERSION: "#/components/schemas/KantaraReceipt"}},
}


class ReceiptQuerySchema(ma.Schema):
    format = ma.fields.String(load_default="iso27560", validate=ma.validate.OneOf(FORMATS),
                              metadata={"description": "`iso27560` (the signed record) or "
                                                       "`kantara` (its Kantara v1.1 view)"})


class KeptSwitchSchema(ma.Schema):
    switch = ma.fields.String(metadata={"enum": ["sale_sharing_opt_out"]})
    reason = ma.fields.String(metadata={"enum": ["gpc"]})


class IgnoredSectionSchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "The GPP section id"})
    name = ma.fields.String(allow_none=True, metadata={"description": "Its API prefix "
                                                                      "(usva, tcfeuv2 …)"})


class ConsentWriteResultSchema(ConsentStateSchema):
    receipt = ma.fields.Nested(ReceiptSchema)
    ignored_sections = ma.fields.List(ma.fields.Nested(IgnoredSectionSchema), metadata={
        "description": "With a GPP string: the first 32 sections not decoded (other than "
                       "usnat and usca); the receipt keeps them in its `gpp_string`"})
    ignored_section_count = ma.fields.Integer(metadata={
        "description": "With a GPP string: how many sections were not decoded"})
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


class DecisionSchema(FastLoad, StrictSchema):
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


class DecisionBatchSchema(FastLoad, StrictSchema):
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


class NoticeWriteSchema(StrictSchema):
    version = ma.fields.String(required=True,
                               validate=FullMatch(NOTICE_VERSION_PATTERN, NOTICE_VERSION_RULE),
                               metadata={"pattern": f"^{NOTICE_VERSION_PATTERN}$"})
    url = ma.fields.String(required=True, validate=[
        ma.validate.Length(max=2048),
        ma.validate.URL(schemes={"http", "https"}, require_tld=False)],
        metadata={"description": "Where the person reads this version"})
    sha256 = ma.fields.String(required=True, validate=FullMatch(
        SHA256_PATTERN, "Must be 64 lowercase hexadecimal digits: the SHA-256 of the "
                        "notice's text as shown."), metadata={"pattern": f"^{SHA256_PATTERN}$"})
    material = ma.fields.Boolean(required=True, metadata={
        "description": "Whether the change is material: true asks everyone who chose under "
                       "an older version to consent again (`reconsent_needed`)"})


class NoticeSchema(ma.Schema):
    notice_id = ma.fields.String()
    latest_version = ma.fields.String()
    latest_material_version = ma.fields.String(allow_none=True)
    versions = ma.fields.List(ma.fields.Nested(NoticeVersionSchema),
                              metadata={"description": "Oldest first (recording order)"})


class NoticeListSchema(ma.Schema):
    notices = ma.fields.List(ma.fields.Nested(NoticeSchema))


class ConsentModeQuerySchema(ma.Schema):
    channel = ma.fields.String(load_default=None, metadata={
        "description": "A channel of the policy (`web` for a tag manager); default: none, "
                       "the answer for choices made for every channel"})
    jurisdiction = ma.fields.String(load_default=None, metadata={
        "description": "Used when the subject has none recorded (else the policy default)"})


def _consent_mode_field() -> ma.fields.String:
    return ma.fields.String(metadata={"enum": ["granted", "denied"]})


class ConsentModeSchema(ma.Schema):
    """The seven Google Consent Mode v2 fields (CONSENT_MODE_FIELDS), with the token."""

    subject_id = ma.fields.String()
    channel = ma.fields.String(allow_none=True)
    jurisdiction = ma.fields.String()
    ad_storage = _consent_mode_field()
    ad_user_data = _consent_mode_field()
    ad_personalization = _consent_mode_field()
    analytics_storage = _consent_mode_field()
    personalization_storage = _consent_mode_field()
    functionality_storage = _consent_mode_field()
    security_storage = _consent_mode_field()
    policy_version = ma.fields.String()
    evaluated_at = Timestamp()
    max_age = ma.fields.Integer(metadata={"description": "Seconds the token is valid"})
    token = ma.fields.String(metadata={
        "description": "Compact JWS (EdDSA) whose `consent_mode` claim holds the seven "
                       "fields; verify offline with /.well-known/consentry-keys"})
