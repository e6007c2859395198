"""Decode IAB GPP strings: the header, and the US national (`usnat`, section 7) and
California (`usca`, section 8) sections with their GPC subsections.

A GPP string is the header and each section, joined by `~`, in the header's order.
Other sections are not decoded: they are returned as received, so the caller can keep
and list them. Layouts: IAB Tech Lab, "GPP Consent String Specification", "US National
Privacy Technical Specification" (versions 1 and 2) and "California Privacy Technical
Specification".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from consent.iab.bits import BitReader, DecodeError

HEADER_TYPE = 3
HEADER_VERSION = 1
USNAT, USCA = 7, 8
MAX_SECTION_ID = 4095
# The section ids the GPP registry has assigned, so an ignored section can be named.
SECTION_NAMES = {2: "tcfeuv2", 5: "tcfcav1", 6: "uspv1", 7: "usnat", 8: "usca", 9: "usva",
                 10: "usco", 11: "usut", 12: "usct", 13: "usfl", 14: "usmt", 15: "usor",
                 16: "ustx", 17: "usde", 18: "usia", 19: "usne", 20: "usnh", 21: "usnj",
                 22: "ustn", 23: "usmn", 24: "usmd", 25: "usin", 26: "usky", 27: "usri"}
_TEXT = re.compile(r"[A-Za-z0-9_\-.~]+")

# Two-bit answers: 0 not applicable; opt-outs 1 opted out, 2 did not opt out; consents
# (usnat's SensitiveDataProcessing, KnownChildSensitiveDataConsents, PersonalDataConsents)
# 1 no consent, 2 consent. usca's SensitiveDataProcessing is an opt-out (limit use).
NOT_APPLICABLE, OPTED_OUT, DID_NOT_OPT_OUT = 0, 1, 2
NO_CONSENT, CONSENT = 1, 2

_NOTICES = {USNAT: ("SharingNotice", "SaleOptOutNotice", "SharingOptOutNotice",
                    "TargetedAdvertisingOptOutNotice", "SensitiveDataProcessingOptOutNotice",
                    "SensitiveDataLimitUseNotice"),
            USCA: ("SaleOptOutNotice", "SharingOptOutNotice", "SensitiveDataLimitUseNotice")}
_OPT_OUTS = {USNAT: ("SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut"),
             USCA: ("SaleOptOut", "SharingOptOut")}
# (SensitiveDataProcessing, KnownChildSensitiveDataConsents) lengths per section version
_LISTS = {(USNAT, 1): (12, 2), (USNAT, 2): (16, 3), (USCA, 1): (9, 2)}


@dataclass(frozen=True)
class UsSection:
    """A decoded `usnat` or `usca` section. Fields keep the specification's names."""

    section_id: int
    version: int
    fields: dict[str, int]  # notices, opt-outs, PersonalDataConsents, Mspa*
    sensitive_data_processing: tuple[int, ...]
    known_child_sensitive_data_consents: tuple[int, ...]
    gpc: bool | None  # None: no GPC subsection

    @property
    def name(self) -> str:
        return SECTION_NAMES[self.section_id]

    def opted_out(self, name: str) -> bool:
        return self.fields.get(name) == OPTED_OUT

    def as_dict(self) -> dict:
        """The fields as the IAB libraries name them (for display and tests)."""
        return {"Version": self.version, **self.fields,
                "SensitiveDataProcessing": list(self.sensitive_data_processing),
                "KnownChildSensitiveDataConsents": list(self.known_child_sensitive_data_consents),
                **({} if self.gpc is None else {"Gpc": self.gpc})}


@dataclass(frozen=True)
class GPPString:
    """A decoded GPP string: its section ids, the US sections decoded, the rest as sent."""

    section_ids: tuple[int, ...]
    sections: dict[int, UsSection] = field(default_factory=dict)
    ignored: dict[int, str] = field(default_factory=dict)  # section id → its text as received

    @property
    def ignored_sections(self) -> list[dict]:
        return [{"id": sid, "name": SECTION_NAMES.get(sid)} for sid in self.ignored]


def decode(gpp_string: str) -> GPPString:
    """Decode `gpp_string`; raise `DecodeError` saying what is wrong when it is malformed."""
    if not isinstance(gpp_string, str) or not gpp_string:
        raise DecodeError("A GPP string must be non-empty text.")
    if not _TEXT.fullmatch(gpp_string):
        bad = next(c for c in gpp_string if not _TEXT.fullmatch(c))
        raise DecodeError(f"The GPP string has {bad!r}, which may not appear in one "
                          f"(base64url characters, '.' and '~' only).")
    header, *parts = gpp_string.split("~")
    ids = _header(header.split(".")[0], len(parts))
    if len(ids) != len(parts):
        raise DecodeError(f"The GPP header lists {len(ids)} section(s) but the string "
                          f"carries {len(parts)}.")
    sections: dict[int, UsSection] = {}
    ignored: dict[int, str] = {}
    for sid, text in zip(ids, parts, strict=True):
        if sid in (USNAT, USCA):
            sections[sid] = _us_section(sid, text)
        elif not text:
            raise DecodeError(f"The GPP string's section {sid} is empty.")
        else:
            ignored[sid] = text
    return GPPString(tuple(ids), sections, ignored)


def _header(text: str, carried: int) -> list[int]:
    r = BitReader(text, "The GPP header")
    kind = r.int(6, "Type")
    if kind != HEADER_TYPE:
        raise DecodeError(f"The GPP header has type {kind}; a GPP header has type 3.")
    version = r.int(6, "Version")
    if version != HEADER_VERSION:
        raise DecodeError(f"The GPP header has version {version}; only version 1 is known.")
    ids: list[int] = []
    last = 0
    for i in range(r.int(12, "SectionIds NumEntries")):
        is_range = r.bool(f"SectionIds entry {i + 1} IsARange")
        start = last + r.fibonacci(f"SectionIds entry {i + 1}")
        end = start + r.fibonacci(f"SectionIds entry {i + 1} end") if is_range else start
        if end > MAX_SECTION_ID:
            raise DecodeError(f"The GPP header lists section {end}; section ids end at "
                              f"{MAX_SECTION_ID}.")
        if len(ids) + end - start + 1 > carried:
            raise DecodeError(f"The GPP header lists more sections than the string "
                              f"carries ({carried}).")
        ids.extend(range(start, end + 1))
        last = end
    return ids


def _us_section(sid: int, text: str) -> UsSection:
    name = SECTION_NAMES[sid]
    core, *subsections = text.split(".")
    r = BitReader(core, f"The GPP {name} section")
    version = r.int(6, "Version")
    lengths = _LISTS.get((sid, version))
    if lengths is None:
        known = sorted(v for s, v in _LISTS if s == sid)
        raise DecodeError(f"The GPP {name} section has version {version}; known: "
                          f"{', '.join(map(str, known))}.")
    fields = {}
    for key in (*_NOTICES[sid], *_OPT_OUTS[sid]):
        fields[key] = _answer(r, key)
    sensitive = tuple(_answer(r, f"SensitiveDataProcessing {i + 1}")
                      for i in range(lengths[0]))
    children = tuple(_answer(r, f"KnownChildSensitiveDataConsents {i + 1}")
                     for i in range(lengths[1]))
    fields["PersonalDataConsents"] = _answer(r, "PersonalDataConsents")
    covered = r.int(2, "MspaCoveredTransaction")
    if covered not in (1, 2):
        raise DecodeError(f"The GPP {name} section's MspaCoveredTransaction is {covered}; "
                          f"it must be 1 (yes) or 2 (no).")
    fields["MspaCoveredTransaction"] = covered
    fields["MspaOptOutOptionMode"] = _answer(r, "MspaOptOutOptionMode")
    fields["MspaServiceProviderMode"] = _answer(r, "MspaServiceProviderMode")
    gpc = None
    for number, sub in enumerate(subsections, start=1):
        s = BitReader(sub, f"The GPP {name} section's subsection {number}")
        kind = s.int(2, "SubsectionType")
        if kind == 0:
            raise DecodeError(f"The GPP {name} section's subsection {number} claims to be "
                              f"a core segment.")
        if kind == 1:
            if gpc is not None:
                raise DecodeError(f"The GPP {name} section repeats its GPC subsection.")
            gpc = s.bool("Gpc")
        # other subsection types are not defined yet: skipped, never guessed at
    return UsSection(sid, version, fields, sensitive, children, gpc)


def _answer(r: BitReader, field_name: str) -> int:
    value = r.int(2, field_name)
    if value == 3:
        raise DecodeError(f"{r.what}: {field_name} is 3, which the specification does not "
                          f"define (0, 1 or 2).")
    return value
