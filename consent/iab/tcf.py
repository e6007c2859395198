"""Decode IAB TCF v2 TC strings (TCF v2.2 and v2.3: TCF policy versions 4 and 5 alike).

A TC string is base64url segments joined by `.`: the core segment first, then optional
segments told apart by their first three bits: 1 disclosed vendors, 2 allowed vendors
(dropped in TCF v2.2, still decoded) and 3 publisher TC. Layout: IAB Tech Lab, "TCF v2
Consent string and vendor list formats".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from consent.iab.bits import BitReader, DecodeError, IdSet

TC_VERSION = 2
PURPOSES = range(1, 25)  # the 24 bits of PurposesConsent; TCF v2.2 defines 1-11
SPECIAL_FEATURES = range(1, 13)  # the 12 bits of SpecialFeatureOptIns; v2.2 defines 1-2
RESTRICTION_TYPES = {0: "not_allowed", 1: "require_consent", 2: "require_legitimate_interest"}
SEGMENT_TYPES = {1: "disclosed_vendors", 2: "allowed_vendors", 3: "publisher_tc"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PublisherRestriction:
    purpose_id: int
    restriction_type: int  # 0 not allowed, 1 require consent, 2 require legitimate interest
    vendors: IdSet


@dataclass(frozen=True)
class PublisherTC:
    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    num_custom_purposes: int
    custom_purposes_consent: frozenset[int]
    custom_purposes_li_transparency: frozenset[int]


@dataclass(frozen=True)
class TCString:
    """A decoded TC string: the core segment's fields and any optional segments."""

    version: int
    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_opt_ins: frozenset[int]
    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str
    vendor_consents: IdSet
    vendor_legitimate_interests: IdSet
    publisher_restrictions: tuple[PublisherRestriction, ...]
    disclosed_vendors: IdSet | None = None
    allowed_vendors: IdSet | None = None
    publisher_tc: PublisherTC | None = None

    @property
    def segments(self) -> list[str]:
        """The optional segments the string carried, by name."""
        return [name for name in SEGMENT_TYPES.values() if getattr(self, name) is not None]


def decode(tc_string: str) -> TCString:
    """Decode `tc_string`; raise `DecodeError` saying what is wrong when it is malformed."""
    if not isinstance(tc_string, str):
        raise DecodeError("A TC string must be text.")
    parts = tc_string.split(".")
    core = _core(BitReader(parts[0], "The TC string's core segment"))
    optional: dict[str, object] = {}
    for number, part in enumerate(parts[1:], start=2):
        what = f"The TC string's segment {number}"
        reader = BitReader(part, what)
        segment_type = reader.int(3, "SegmentType")
        name = SEGMENT_TYPES.get(segment_type)
        if name is None:
            raise DecodeError(f"{what} has segment type {segment_type}, which TCF v2 does "
                              f"not define (1 disclosed vendors, 2 allowed vendors, "
                              f"3 publisher TC).")
        if name in optional:
            raise DecodeError(f"{what} repeats the {name} segment.")
        optional[name] = (_publisher_tc(reader) if name == "publisher_tc"
                          else _vendors(reader, "DisclosedVendors" if segment_type == 1
                                        else "AllowedVendors"))
    return TCString(**core, **optional)


def _core(r: BitReader) -> dict:
    version = r.int(6, "Version")
    if version != TC_VERSION:
        raise DecodeError(f"The TC string has version {version}; only TCF v2 strings "
                          f"(version 2) are accepted.")
    fields: dict = {"version": version}
    fields["created"] = _moment(r.int(36, "Created"))
    fields["last_updated"] = _moment(r.int(36, "LastUpdated"))
    fields["cmp_id"] = r.int(12, "CmpId")
    fields["cmp_version"] = r.int(12, "CmpVersion")
    fields["consent_screen"] = r.int(6, "ConsentScreen")
    fields["consent_language"] = r.letters(2, "ConsentLanguage")
    fields["vendor_list_version"] = r.int(12, "VendorListVersion")
    fields["policy_version"] = r.int(6, "TcfPolicyVersion")
    fields["is_service_specific"] = r.bool("IsServiceSpecific")
    fields["use_non_standard_texts"] = r.bool("UseNonStandardTexts")
    fields["special_feature_opt_ins"] = r.bitfield(12, "SpecialFeatureOptIns")
    fields["purposes_consent"] = r.bitfield(24, "PurposesConsent")
    fields["purposes_li_transparency"] = r.bitfield(24, "PurposesLITransparency")
    fields["purpose_one_treatment"] = r.bool("PurposeOneTreatment")
    fields["publisher_cc"] = r.letters(2, "PublisherCC")
    fields["vendor_consents"] = _vendors(r, "VendorConsents")
    fields["vendor_legitimate_interests"] = _vendors(r, "VendorLegitimateInterests")
    restrictions = []
    for i in range(r.int(12, "NumPubRestrictions")):
        field = f"PubRestrictionEntry {i + 1}"
        purpose_id = r.int(6, f"{field} PurposeId")
        restriction_type = r.int(2, f"{field} RestrictionType")
        if restriction_type not in RESTRICTION_TYPES:
            raise DecodeError(f"{r.what}: {field} has restriction type {restriction_type}, "
                              f"which TCF v2 does not define (0, 1 or 2).")
        restrictions.append(PublisherRestriction(purpose_id, restriction_type,
                                                 _ranges(r, f"{field} vendor")))
    fields["publisher_restrictions"] = tuple(restrictions)
    return fields


def _moment(deciseconds: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=deciseconds * 100)


def _vendors(r: BitReader, field: str) -> IdSet:
    """A vendor section: MaxVendorId, then a bitfield or a range encoding."""
    max_id = r.int(16, f"{field} MaxVendorId")
    if r.bool(f"{field} IsRangeEncoding"):
        ids = _ranges(r, f"{field} entry")
        if ids.max > max_id:
            raise DecodeError(f"{r.what}: {field} lists vendor {ids.max}, above its "
                              f"MaxVendorId {max_id}.")
        return ids
    return IdSet.of(r.bitfield(max_id, f"{field} bitfield"))


def _ranges(r: BitReader, field: str) -> IdSet:
    """NumEntries, then each entry: IsARange, StartOrOnlyVendorId[, EndVendorId]."""
    ranges = []
    for i in range(r.int(12, f"{field} NumEntries")):
        is_range = r.bool(f"{field} {i + 1} IsARange")
        start = r.int(16, f"{field} {i + 1} StartOrOnlyVendorId")
        end = r.int(16, f"{field} {i + 1} EndVendorId") if is_range else start
        if start < 1 or end < start:
            raise DecodeError(f"{r.what}: {field} {i + 1} is the range {start}-{end}; "
                              f"vendor ids start at 1 and a range may not run backwards.")
        ranges.append((start, end))
    return IdSet(ranges)


def _publisher_tc(r: BitReader) -> PublisherTC:
    consent = r.bitfield(24, "PubPurposesConsent")
    li = r.bitfield(24, "PubPurposesLITransparency")
    count = r.int(6, "NumCustomPurposes")
    return PublisherTC(consent, li, count, r.bitfield(count, "CustomPurposesConsent"),
                       r.bitfield(count, "CustomPurposesLITransparency"))
