"""What a TC or GPP string means for the ledger, through the policy's `[tcf]` and `[gpp]`
tables: the events a consent write records, what its receipt keeps, and whether the
string carries GPC. Pure: a string and a policy in, events out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consent.iab import gpp, tcf
from consent.iab.bits import DecodeError
from consentry.clock import rfc3339
from consentry.errors import Invalid
from consentry.policy import Policy

TCF_SOURCE = "tcf"
GPP_SOURCE = "gpp"
# the GPP opt-outs that set the sale/sharing switch (usca has no targeted-advertising one)
GPP_OPT_OUTS = ("SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut")
# A TC string's LastUpdated may lie this far after the service's clock (a CMP's clock).
TCF_CLOCK_SKEW = timedelta(minutes=5)
# TCF v2.2 is policy version 4 (v2.3: 5); an older string predates the rules it must meet.
MIN_TCF_POLICY_VERSION = 4
MAX_LISTED_IGNORED = 32  # ignored GPP sections a write's answer names (it counts them all)


@dataclass
class StandardSignals:
    """Events (ledger shape), their receipt lines, what the receipt keeps, and GPC."""

    events: list[dict] = field(default_factory=list)
    shown: list[dict] = field(default_factory=list)
    receipt: dict = field(default_factory=dict)
    gpc: bool = False

    def add(self, event: dict) -> None:
        self.events.append(event)
        keys = (("switch", "status", "source") if event["kind"] == "switch"
                else ("purpose", "category", "channel", "status", "source"))
        self.shown.append({k: event[k] for k in keys})


def decode_strings(tc_string: str | None, gpp_string: str | None
                   ) -> tuple[tcf.TCString | None, gpp.GPPString | None]:
    """Decode the strings a write carries; one 422 naming each malformed one."""
    errors: dict[str, list[str]] = {}
    decoded_tc = decoded_gpp = None
    if tc_string is not None:
        try:
            decoded_tc = tcf.decode(tc_string)
        except DecodeError as exc:
            errors["tcf.tc_string"] = [str(exc)]
    if gpp_string is not None:
        try:
            decoded_gpp = gpp.decode(gpp_string)
        except DecodeError as exc:
            errors["gpp.gpp_string"] = [str(exc)]
    if errors:
        raise Invalid("A standard consent string is malformed.", fields=errors)
    return decoded_tc, decoded_gpp


def ignored_sections(gpp_string: str) -> dict:
    """What a write's answer says of the sections of a (well-formed) GPP string it did
    not decode: `ignored_sections`, the first MAX_LISTED_IGNORED (`id`, `name`), and
    `ignored_section_count`, all of them."""
    decoded = gpp.decode(gpp_string)
    return {"ignored_sections": decoded.ignored_sections[:MAX_LISTED_IGNORED],
            "ignored_section_count": len(decoded.ignored)}


def check_tc_fresh(policy: Policy, tc: tcf.TCString, now: datetime) -> None:
    """A 422 on `tcf.tc_string` for a string that cannot stand for a choice made now: its
    LastUpdated older than the policy's consent validity or more than TCF_CLOCK_SKEW
    after `now`, or its TcfPolicyVersion below MIN_TCF_POLICY_VERSION."""
    why = []
    if tc.policy_version < MIN_TCF_POLICY_VERSION:
        why.append(f"Its TcfPolicyVersion is {tc.policy_version}; TCF v2.2 (policy version "
                   f"{MIN_TCF_POLICY_VERSION}) or later is required.")
    if tc.last_updated > now + TCF_CLOCK_SKEW:
        why.append(f"Its LastUpdated ({rfc3339(tc.last_updated)}) lies in the future.")
    elif tc.last_updated < now - timedelta(days=policy.consent_valid_days):
        why.append(f"Its LastUpdated ({rfc3339(tc.last_updated)}) is older than the "
                   f"policy's consent validity ({policy.consent_valid_days} days).")
    if why:
        raise Invalid("The TC string is stale.", fields={"tcf.tc_string": why})


def standard_signals(policy: Policy, tc_string: str | None = None,
                     gpp_string: str | None = None,
                     now: datetime | None = None) -> StandardSignals:
    """Decode the strings (422 when malformed) and turn them into events by the policy.

    Given `now`, a TC string must be fresh (`check_tc_fresh`); its events are dated by
    its LastUpdated (`occurred_at`): that is when the person made the choice."""
    decoded_tc, decoded_gpp = decode_strings(tc_string, gpp_string)
    if decoded_tc is not None and now is not None:
        check_tc_fresh(policy, decoded_tc, now)
    signals = StandardSignals()
    if decoded_tc is not None:
        _add_tcf(signals, policy, tc_string, decoded_tc)
    if decoded_gpp is not None:
        _add_gpp(signals, policy, gpp_string, decoded_gpp)
    return signals


def _add_tcf(signals: StandardSignals, policy: Policy, text: str, tc: tcf.TCString) -> None:
    """Each mapped policy purpose: granted when every TCF purpose it needs is consented,
    else denied; for each granted one, each mapped special feature's category: granted
    when opted in, else denied."""
    facts = {"created": rfc3339(tc.created), "last_updated": rfc3339(tc.last_updated),
             "cmp_id": tc.cmp_id, "cmp_version": tc.cmp_version,
             "policy_version": tc.policy_version, "vendor_list_version": tc.vendor_list_version}
    evidence = {"tcf": facts}
    for purpose, needs in policy.tcf.purposes.items():
        granted = all(n in tc.purposes_consent for n in needs)
        signals.add({"kind": "choice", "purpose": purpose, "category": None, "channel": None,
                     "status": "granted" if granted else "denied", "source": TCF_SOURCE,
                     "evidence": evidence, "occurred_at": tc.last_updated})
        if not granted:
            continue
        for feature, category in policy.tcf.special_features.items():
            opted_in = feature in tc.special_feature_opt_ins
            signals.add({"kind": "choice", "purpose": purpose, "category": category,
                         "channel": None, "status": "granted" if opted_in else "denied",
                         "source": TCF_SOURCE, "evidence": evidence,
                         "occurred_at": tc.last_updated})
    signals.receipt["tcf"] = {"tc_string": text, **facts, "segments": tc.segments}


def _sensitive_status(section: gpp.UsSection, value: int) -> str | None:
    """usnat answers consent (2 granted, 1 denied); usca answers an opt-out (1 denied;
    2, "did not opt out", is no consent and records nothing); 0 is not applicable."""
    if value == gpp.NOT_APPLICABLE:
        return None
    if section.section_id == gpp.USNAT:
        return "granted" if value == gpp.CONSENT else "denied"
    return "denied" if value == gpp.OPTED_OUT else None


def _add_gpp(signals: StandardSignals, policy: Policy, text: str, decoded: gpp.GPPString
             ) -> None:
    sections = list(decoded.sections.values())
    evidence = {"gpp": {"sections": [s.name for s in sections]}}
    if any(s.opted_out(name) for s in sections for name in GPP_OPT_OUTS):
        signals.add({"kind": "switch", "switch": "sale_sharing_opt_out", "status": "on",
                     "source": GPP_SOURCE, "evidence": evidence})
    signals.gpc = any(s.gpc for s in sections)
    statuses: dict[str, str] = {}  # category → granted | denied (a denial wins)
    for section in sections:
        for number, category in policy.gpp.sensitive_data.get(section.name, {}).items():
            if number > len(section.sensitive_data_processing):
                continue  # a field this section's version does not have
            status = _sensitive_status(section, section.sensitive_data_processing[number - 1])
            if status is not None and statuses.get(category) != "denied":
                statuses[category] = status
    for purpose in policy.gpp.purposes:
        for category, status in statuses.items():
            signals.add({"kind": "choice", "purpose": purpose, "category": category,
                         "channel": None, "status": status, "source": GPP_SOURCE,
                         "evidence": evidence})
    # The receipt keeps the string once, as received (every section is in it), and the
    # names of the sections it decoded: a string may list thousands of sections it
    # does not decode, and a copy of each (or of their ids) made the receipt many times
    # the string's size. The write's answer names a few of them (`ignored_sections`).
    signals.receipt["gpp"] = {"gpp_string": text, "sections": [s.name for s in sections]}
