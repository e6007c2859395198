"""Subject access (GDPR Art. 15): one person's files in a signed, offline-verifiable bundle.

The bundle is an audit export filtered to the person (their audit entries, each with
its inclusion proof in a signed checkpoint) that also carries the files built here:
their consent history and every stored receipt (each still signed, so it proves itself
on its own), the decisions about them with their explanations in every language, the
holds and erasures that name them, and a summary. audit/export.py lists every file
with its SHA-256 in the signed manifest, so the verifier catches a change to any of them.

What the person gets, and what not:
- their own evidence (user agent, the IP's network and keyed hash) in readable form:
  the event rows carry it in clear, and their audit entries' sealed copy is opened in
  `entries.csv`. Once an erasure removed it, the bundle says so.
- free text staff wrote about the case (a hold's reason, an erasure's reason) is not
  opened: it may concern others or be privileged. The bundle says it was withheld.
- nothing of another subject: every file is selected by this subject's id or keyed
  reference, and category holds (which name no one) are left out.

A subject the service holds nothing about gets a bundle stating that (Art. 15 is
answered by saying no data is processed), not an error.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from audit.export import WITHHELD, Attachments
from audit.verify import ERASURES, RECEIPTS, SUBJECT_ACCESS
from consent import decisions, ledger
from consent.explain import LANGUAGES
from consentry.auth import role_label
from consentry.clock import rfc3339, utcnow
from consentry.policy import BASE_LANGUAGE, Policy
from consentry.secretstore import SecretStore
from governance import privacy_requests
from retention import service as retention

FOLDER = "subject/"  # RECEIPTS and ERASURES are named in audit/verify.py, which checks them
SUMMARY = f"{FOLDER}summary.json"
EVENTS = f"{FOLDER}consent_events.json"
DECISIONS = f"{FOLDER}decisions.json"
EXPLANATIONS = f"{FOLDER}explanations.json"
HOLDS = f"{FOLDER}holds.json"
REQUESTS = f"{FOLDER}requests.json"

CONTENTS = {
    SUMMARY: "what the service holds about the person: the recipients of their data "
             "(GDPR Art. 15(1)(c)), counts, their current consent "
             "state, and notes on what is withheld or was erased",
    EVENTS: "every consent choice and switch the person made or that was recorded for "
            "them, oldest first, with its evidence in readable form",
    DECISIONS: "every stored decision about the person: what was shown, where, which "
               "signals drove it, and whether it kept to their consent",
    EXPLANATIONS: "each decision explained in plain words, per language",
    HOLDS: "the legal holds naming the person (their reasons withheld)",
    ERASURES: "the erasures of the person, with each signed erasure certificate",
    REQUESTS: "the person's privacy requests: when each was received and due, and each "
              "step, with the reasons the person is owed (an extension's, a rejection's)",
}
RECEIPT_CONTENT = ("a consent receipt as issued to the person, with its Ed25519 "
                   "signature (checks against the published keys on its own)")

EVIDENCE_NOTE = ("Evidence is kept protected: the user agent as sent, the IP address "
                 "only as its network (ip_prefix: /24 for IPv4, /48 for IPv6) and a keyed "
                 "hash (ip_hash) that cannot be turned back into the address, by the "
                 "service either.")
WITHHELD_NOTE = (f"Free text staff wrote about the case (a legal hold's or an "
                 f"erasure's reason, a request's note) is not included: it may concern "
                 f"others or be privileged. It reads {WITHHELD!r}, also in entries.csv.")
ERASED_NOTE = ("The person's data was erased (GDPR Art. 17): consent events stay as proof "
               "of consent and withdrawal (Art. 7(1), 17(3)(e)) without their evidence; "
               "receipts and decisions were deleted; the personal fields of their audit "
               "entries are shredded (entries.csv reads '[shredded]'), their proofs hold.")
ERASED_EVIDENCE = "removed by erasure, if any was recorded"
NOTHING_NOTE = ("The service holds no consent records, receipts, decisions, holds, "
                "erasures, requests or audit entries about this subject.")


def subject_files(session: Session, keys: SecretStore, policy: Policy, subject_id: str,
                  entries: int, *, recipe_lookup=None) -> Attachments:
    """The files a subject access bundle adds to the person's audit entries (`entries`
    of them), read in the caller's transaction."""
    now = utcnow()
    erasures = retention.subject_erasures(session, keys, subject_id)
    erased_from = min((e.started_at for e in erasures if e.started_at is not None),
                      default=None)
    events = [_event(e, erased_from) for e in ledger.subject_events(session, subject_id)]
    receipts = ledger.subject_receipts(session, subject_id)
    rows = decisions.subject_decisions(session, subject_id)
    memo: dict = {}
    explanations = [{"decision_id": d.decision_id,
                     "explanations": {language: decisions.explain_decision(
                         session, d, policy, language, recipe_lookup, memo)
                         for language in LANGUAGES}} for d in rows]
    holds = [_hold(h, now) for h in retention.subject_holds(session, subject_id)]
    erased = [_erasure(e) for e in erasures]
    requests = [_request(session, r)
                for r in privacy_requests.subject_requests(session, subject_id)]
    state = ledger.load_state(session, subject_id)
    counts = {"consent_events": len(events), "receipts": len(receipts),
              "decisions": len(rows), "holds": len(holds), "erasures": len(erased),
              "requests": len(requests), "audit_entries": entries}
    nothing = not any(counts.values())
    notes = [NOTHING_NOTE] if nothing else []
    if erased_from is not None:
        notes.append(ERASED_NOTE)
    if any(e["evidence"] for e in events):
        notes.append(EVIDENCE_NOTE)
    if holds or erased or requests:
        notes.append(WITHHELD_NOTE)
    summary = {"subject_id": subject_id, "subject_ref": keys.subject_ref(subject_id),
               "controller": policy.controller, "policy_version": policy.version,
               "nothing_held": nothing, "counts": counts}
    current = None if state is None else ledger.describe_state(
        subject_id, state, policy, now, language=BASE_LANGUAGE)
    document = {
        **summary,
        "type": f"consentry.{SUBJECT_ACCESS}/1",
        "current_state": current,
        "recipients": _recipients(policy, current),
        "notes": notes,
    }
    files = {SUMMARY: _json(document), EVENTS: _json(events), DECISIONS: _json(
        [_decision(d) for d in rows]), EXPLANATIONS: _json(explanations),
        HOLDS: _json(holds), ERASURES: _json(erased), REQUESTS: _json(requests)}
    contents = dict(CONTENTS)
    for receipt in receipts:
        name = f"{RECEIPTS}{receipt['receipt_id']}.json"
        files[name] = _json(receipt)
        contents[name] = RECEIPT_CONTENT
    return Attachments(files=files, contents=contents, summary=summary)


def _recipients(policy: Policy, current: dict | None) -> list[dict]:
    """The recipients of the person's data (GDPR Art. 15(1)(c)): each with what it
    receives, where, under which safeguard, and which of its purposes the person's
    consent state allows now (all of them unknown when the service holds no state)."""
    allowed = None if current is None else {
        e["purpose"] for e in current["entries"]
        if e["category"] is None and e["channel"] is None and e["allowed"]}
    return [{"recipient": r.id, "name": r.name, "role": r.role, "country": r.country,
             "third_country": r.third_country, "transfer_safeguard": r.transfer_safeguard,
             "sale_sharing": r.sale_sharing, "purposes": list(r.purposes),
             "categories": list(r.categories),
             "allowed_purposes": None if allowed is None else
             [p for p in r.purposes if p in allowed]} for r in policy.recipients]


def _event(row, erased_from: datetime | None) -> dict:
    if row.evidence:
        status = "readable"
    elif erased_from is not None and row.received_at < erased_from:
        status = ERASED_EVIDENCE
    else:
        status = "none recorded"
    return {"event_id": row.event_id, "received_at": rfc3339(row.received_at),
            "kind": row.kind, "purpose": row.purpose, "category": row.category,
            "channel": row.channel, "switch": row.switch, "status": row.status,
            "jurisdiction": row.jurisdiction, "source": row.source,
            "notice_version": row.notice_version, "receipt_id": row.receipt_id,
            "recorded_by": role_label(row.actor), "evidence": row.evidence,
            "evidence_status": status}


def _decision(row) -> dict:
    return {"decision_id": row.decision_id, "decided_at": rfc3339(row.decided_at),
            "recorded_at": rfc3339(row.recorded_at), "surface": row.surface,
            "channel": row.channel, "purpose": row.purpose, "item": row.item,
            "signals_used": row.signals_used, "rule": row.rule,
            "recipe_id": row.recipe_id, "recipe_version": row.recipe_version,
            "conformant": row.conformant, "violations": row.violations,
            "policy_version": row.policy_version, "recorded_by": role_label(row.actor)}


def _hold(hold, now: datetime) -> dict:
    return {"hold_id": hold.id, "created_at": rfc3339(hold.created_at),
            "created_by": role_label(hold.created_by), "until": rfc3339(hold.until),
            "lifted_at": rfc3339(hold.lifted_at),
            "active": hold.lifted_at is None and (hold.until is None or hold.until > now),
            "reason": WITHHELD}


# The reasons a controller must give the person (GDPR Art. 12(3) an extension's, 12(4)
# a refusal's); other steps' reasons and the note are staff's working text, withheld.
TOLD_REASONS = (privacy_requests.EXTENDED, privacy_requests.REJECTED)


def _request(session: Session, row) -> dict:
    return {"request_id": row.id, "type": row.type, "status": row.status,
            "jurisdiction": row.jurisdiction, "source": row.source,
            "received_at": rfc3339(row.received_at), "due_at": rfc3339(row.due_at),
            "extended": row.extended, "closed_at": rfc3339(row.closed_at),
            "export_id": row.export_id, "erasure_id": row.erasure_id,
            "note": WITHHELD if row.note else None,
            "history": [{"status": t.status, "at": rfc3339(t.at),
                         "reason": t.reason if t.status in TOLD_REASONS
                         else (WITHHELD if t.reason else None)}
                        for t in privacy_requests.history(session, row.id)]}


def _erasure(erasure) -> dict:
    document = retention.erasure_document(erasure)
    return {**document, "reason": WITHHELD if document["reason"] else None,
            "requested_by": role_label(document["requested_by"])}


def _json(value) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False,
                      default=_default).encode("utf-8") + b"\n"


def _default(value):
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
