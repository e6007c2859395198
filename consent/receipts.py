"""Consent receipts: an ISO/IEC TS 27560 consent record in W3C DPV terms, and its Kantara
Consent Receipt v1.1 view. Pure: no Flask, no database.

The ledger signs `receipt_record` as built (docs/receipts.md says which bytes are signed);
`kantara_view` derives the Kantara shape from a stored record and is not signed itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from consentry_client.canonical import SharedParts

from consent.gate import evaluate, evaluate_purpose
from consent.state import Choice, ConsentState
from consentry.clock import rfc3339
from consentry.policy import (
    EXPLICIT_CONSENT,
    LAWFUL_BASES,
    RECIPIENT_ROLES,
    Jurisdiction,
    Policy,
)

RECEIPT_VERSION = "consentry-receipt/2"
RECEIPT_VERSIONS = ("consentry-receipt/1", RECEIPT_VERSION)  # every one still served
KANTARA_VERSION = "KI-CR-v1.1.0"
# The members of a record that many records of one batch share (the same objects, built
# once in its memo by `receipt_record`): signed through `shared_parts`, each is encoded
# once a batch, and each record pays only for what is its own.
SHARED_MEMBERS = ("notice", "controller", "purposes", "data_categories", "recipients",
                  "consent_validity")
FORMATS = ("iso27560", "kantara")
# A category's sensitivity as a DPV personal-data concept.
DPV_DATA = {"standard": "dpv:PersonalData", "sensitive": "dpv:SensitivePersonalData",
            "special": "dpv:SpecialCategoryPersonalData"}
# What a choice records, in DPV terms: a consent's status, or whether the person objected
# to processing on the controller's legitimate interest.
CONSENT_STATUS = {"granted": "dpv:ConsentGiven", "denied": "dpv:ConsentRefused",
                  "withdrawn": "dpv:ConsentWithdrawn"}
OBJECTION_STATUS = {"granted": "dpv:LegitimateInterestNotObjected",
                    "denied": "dpv:LegitimateInterestObjected",
                    "withdrawn": "dpv:LegitimateInterestObjected"}
SWITCH_ACTION = {"on": "dpv:OptingOutFromProcess", "off": "dpv:OptingInToProcess"}
WITHDRAW_CONSENT = "dpv:WithdrawConsent"
OBJECT = "dpv:ObjectingToProcess"
# Kantara consentType: consent asked for (opt-in) or processing until the person objects.
KANTARA_CONSENT_TYPE = {"opt_in": "EXPLICIT", "opt_out": "IMPLICIT"}


def own_grant_categories(policy: Policy, juris: Jurisdiction, purpose: str,
                         now: datetime) -> list[str]:
    """The categories of `purpose` that a purpose-level grant does not cover, each used
    only with its own grant (explicit consent), as the gate decides them. A category the
    policy says is `not_for` the purpose is not among them: it is never used for it."""
    return [v.category for v in _under_purpose_grant(policy, juris, purpose, now)
            if not v.allowed and v.reason != "not_permitted_for_purpose"]


def not_permitted_categories(policy: Policy, juris: Jurisdiction, purpose: str,
                             now: datetime) -> list[str]:
    """The categories the gate never allows for `purpose` (the policy's `not_for`)."""
    return [v.category for v in _under_purpose_grant(policy, juris, purpose, now)
            if v.reason == "not_permitted_for_purpose"]


def _under_purpose_grant(policy: Policy, juris: Jurisdiction, purpose: str, now: datetime):
    granted = ConsentState(jurisdiction=juris.id,
                           choices={(purpose, None, None): Choice("granted", now)})
    return evaluate(granted, policy, purpose, None, None, now).verdicts


def switch_purposes(policy: Policy, juris: Jurisdiction, switch: str,
                    now: datetime) -> list[str]:
    """The purposes a global switch stops, as the gate decides them."""
    state = ConsentState(jurisdiction=juris.id, switches={switch: now})
    return [pid for pid in policy.purposes
            if evaluate_purpose(state, policy, pid, None, now).reason == switch]


def _choice(policy: Policy, juris: Jurisdiction, choice: dict, language: str,
            now: datetime) -> dict:
    """A recorded choice with its labels and, in DPV terms, what it records."""
    if choice.get("switch"):
        return {**choice, "purpose_label": None, "dpv": SWITCH_ACTION[choice["status"]]}
    purpose, category = choice["purpose"], choice.get("category")
    own_grant = category is not None and \
        category in own_grant_categories(policy, juris, purpose, now)
    basis = "opt_in" if own_grant else juris.basis.get(purpose, "opt_in")
    statuses = CONSENT_STATUS if basis == "opt_in" else OBJECTION_STATUS
    lawful = EXPLICIT_CONSENT if own_grant else LAWFUL_BASES[basis]
    return {**choice, "purpose_label": policy.purposes[purpose].label_in(language),
            **({"category_label": policy.categories[category].label_in(language)}
               if category else {}),
            "basis": basis, "lawful_basis": lawful, "dpv": statuses[choice["status"]]}


def _purpose(policy: Policy, juris: Jurisdiction, pid: str, language: str,
             now: datetime) -> dict:
    """A purpose of the record: its lawful basis here, the data it uses, who receives it."""
    purpose = policy.purposes[pid]
    basis = juris.basis.get(pid, "opt_in")
    own_grant = own_grant_categories(policy, juris, pid, now)
    never = set(not_permitted_categories(policy, juris, pid, now))
    return {
        "purpose": pid,
        "label": purpose.label_in(language),
        "description": purpose.description_in(language),
        "dpv_purpose": purpose.dpv,
        "basis": basis,
        "lawful_basis": LAWFUL_BASES[basis],
        "right_to_object": basis == "opt_out",
        "sale_sharing": pid in juris.sale_sharing_purposes,
        "categories": [cid for cid in policy.categories
                       if cid not in own_grant and cid not in never],
        "explicit_consent_categories": own_grant,
        "recipients": [r.name for r in policy.recipients if pid in r.purposes],
    }


def _retention(policy: Policy, retention_class: str) -> dict:
    days = policy.retention_classes[retention_class]
    return {"class": retention_class, "days": days,
            "duration": f"P{days}D" if days is not None else None,
            "until": None if days is not None else "account_closed"}


def _data_category(policy: Policy, cid: str, language: str, own_grant: set[str]) -> dict:
    category = policy.categories[cid]
    return {"category": cid, "label": category.label_in(language),
            "sensitivity": category.sensitivity, "dpv_data": DPV_DATA[category.sensitivity],
            "explicit_consent_required": cid in own_grant,
            "retention": _retention(policy, category.retention_class)}


def controller_record(policy: Policy) -> dict:
    """The controller as a record names it: the policy's `[controller]`."""
    contact = policy.controller_contact
    if contact is None:
        return {"name": policy.controller}
    address = {k: v for k, v in vars(contact.address).items() if v is not None}
    return {"name": policy.controller, "email": contact.email, "phone": contact.phone,
            "url": contact.url, "address": address,
            "dpo": ({"name": contact.dpo_name, "email": contact.dpo_email}
                    if contact.dpo_email else None)}


def _governed(policy: Policy, jurisdiction: Jurisdiction, purposes: list[str],
              language: str, issued_at: datetime) -> dict:
    """The parts of a record that depend only on the policy, the jurisdiction, the
    purposes named, the language and the moment: the same for many receipts of a batch."""
    purpose_entries = [_purpose(policy, jurisdiction, pid, language, issued_at)
                       for pid in purposes]
    own_grant = {cid for p in purpose_entries for cid in p["explicit_consent_categories"]}
    valid_days = policy.consent_valid_days
    return {
        "controller": controller_record(policy),
        "purposes": purpose_entries,
        "data_categories": [_data_category(policy, cid, language, own_grant)
                            for cid in (policy.categories if purposes else ())],
        "recipients": [{"name": r.name, "role": r.role, "dpv_role": RECIPIENT_ROLES[r.role],
                        "purposes": [p for p in r.purposes if p in purposes],
                        "country": r.country}
                       for r in policy.recipients if set(r.purposes) & set(purposes)],
        "consent_validity": {"days": valid_days, "duration": f"P{valid_days}D",
                             "valid_until": rfc3339(issued_at + timedelta(days=valid_days))},
    }


def _memo_choice(policy: Policy, juris: Jurisdiction, choice: dict, language: str,
                 now: datetime, memo: dict) -> dict:
    """`_choice`, its labels and DPV terms built once per kind of choice in `memo`."""
    key = ("choice", policy.digest, juris.id, language, now,
           *((k, v) for k, v in choice.items() if k != "event_id"))
    added = memo.get(key)
    if added is None:
        full = _choice(policy, juris, choice, language, now)
        added = memo[key] = {k: v for k, v in full.items()
                             if k not in choice or choice[k] != v}
    return {**choice, **added}


def shared_parts(memo: dict) -> SharedParts:
    """The encoder of a batch's shared members, kept in its memo (`SecretStore.sign`)."""
    parts = memo.get("shared_parts")
    if parts is None:
        parts = memo["shared_parts"] = SharedParts(SHARED_MEMBERS)
    return parts


def receipt_record(policy: Policy, *, receipt_id: str, issued_at: datetime, subject_id: str,
                   jurisdiction: Jurisdiction, source: str, language: str, notice: dict,
                   choices: list[dict], memo: dict | None = None) -> dict:
    """The receipt's signed body: what was chosen, and the processing it governs.

    `memo` (a dict kept for one batch of receipts) builds the parts that depend on the
    policy, jurisdiction, purposes, language and moment once; the body is the same."""
    named = [c["purpose"] for c in choices if c.get("purpose")]
    for choice in choices:
        if choice.get("switch"):
            named.extend(switch_purposes(policy, jurisdiction, choice["switch"], issued_at))
    purposes = [pid for pid in policy.purposes if pid in set(named)]
    if memo is None:
        governed = _governed(policy, jurisdiction, purposes, language, issued_at)
        shown = [_choice(policy, jurisdiction, c, language, issued_at) for c in choices]
    else:
        key = ("governed", policy.digest, jurisdiction.id, language, issued_at, *purposes)
        if key not in memo:
            memo[key] = _governed(policy, jurisdiction, purposes, language, issued_at)
        governed = memo[key]
        shown = [_memo_choice(policy, jurisdiction, c, language, issued_at, memo)
                 for c in choices]
    withdraw_url = policy.preference_center_url or policy.policy_url
    return {
        "version": RECEIPT_VERSION,
        "receipt_id": receipt_id,
        "issued_at": rfc3339(issued_at),
        "subject_id": subject_id,
        "jurisdiction": jurisdiction.id,
        "jurisdiction_label": jurisdiction.label,
        "collection_method": source,
        "language": language,
        # as the ledger stores it: "<notice_id>@<version>" for a recorded notice
        "notice_version": (f"{notice['notice_id']}@{notice['version']}" if notice["notice_id"]
                           else notice["version"]),
        "notice": notice,
        "policy_version": policy.version,
        "policy_digest": policy.digest,
        "controller": governed["controller"],
        "policy_url": policy.policy_url,
        "choices": shown,
        "purposes": governed["purposes"],
        "data_categories": governed["data_categories"],
        "recipients": governed["recipients"],
        "consent_validity": governed["consent_validity"],
        "withdrawal": {"url": withdraw_url or None,
                       "api": [f"PUT /v1/subjects/{subject_id}/consents",
                               f"POST /v1/subjects/{subject_id}/opt-out"],
                       "consent": WITHDRAW_CONSENT, "objection": OBJECT},
    }


def _kantara_address(address: dict | None) -> dict | None:
    if not address:
        return None
    names = {"street": "streetAddress", "postal_code": "postalCode",
             "locality": "addressLocality", "country": "addressCountry"}
    return {names[k]: v for k, v in address.items() if k in names}


def _termination(purpose: dict, record: dict) -> str:
    validity = record.get("consent_validity")
    if purpose.get("basis") == "opt_out":
        return "When the person objects (opts out) in the preference center or by the API."
    if validity:
        return (f"When the person withdraws consent, and at the latest on "
                f"{validity['valid_until']} ({validity['days']} days after it was given).")
    return "When the person withdraws consent."


def kantara_view(record: dict, public_key: str | None = None) -> dict:
    """The Kantara Consent Receipt v1.1 view of a stored record (derived, not signed)."""
    controller = record.get("controller") or {}
    dpo = controller.get("dpo") or {}
    categories = {c["category"]: c for c in record.get("data_categories", ())}
    recipients = {r["name"]: r for r in record.get("recipients", ())}

    def label(cid: str) -> str:
        return categories[cid]["label"] if cid in categories else cid

    purposes = []
    for purpose in record.get("purposes", ()):
        third = [name for name in purpose.get("recipients", ())
                 if recipients.get(name, {}).get("role") == "third_party"]
        purposes.append({
            "purpose": purpose["label"],
            "purposeCategory": [purpose.get("dpv_purpose") or purpose["label"]],
            "consentType": KANTARA_CONSENT_TYPE[purpose["basis"]],
            "piiCategory": [label(c) for c in (*purpose.get("categories", ()),
                                               *purpose.get("explicit_consent_categories", ()))],
            "primaryPurpose": False,
            "termination": _termination(purpose, record),
            "thirdPartyDisclosure": bool(third),
            **({"thirdPartyName": ", ".join(third)} if third else {}),
        })
    sensitive = [c.get("category") for c in record["choices"]
                 if c.get("category") and c.get("status") == "granted"
                 and categories.get(c["category"], {}).get("sensitivity", "standard")
                 != "standard"]
    pii_controller = {
        "piiController": controller.get("name", ""),
        "contact": dpo.get("name") or controller.get("name", ""),
        "address": _kantara_address(controller.get("address")),
        "email": dpo.get("email") or controller.get("email"),
        **({"phone": controller["phone"]} if controller.get("phone") else {}),
        **({"piiControllerUrl": controller["url"]} if controller.get("url") else {}),
    }
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": record["jurisdiction"],
        "consentTimestamp": int(datetime.fromisoformat(record["issued_at"]).timestamp()),
        "collectionMethod": record["collection_method"],
        "consentReceiptID": record["receipt_id"],
        **({"publicKey": public_key} if public_key else {}),
        "language": record.get("language", "en"),
        "piiPrincipalId": record["subject_id"],
        "piiControllers": [pii_controller],
        "policyUrl": record.get("policy_url", ""),
        "services": [{"service": controller.get("name", ""), "purposes": purposes}],
        "sensitive": bool(sensitive),
        "spiCat": [label(c) for c in dict.fromkeys(sensitive)],
    }
