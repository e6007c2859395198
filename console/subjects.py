"""The console's page per person, and the confirmations of what cannot be undone.

`/console/subjects/<subject_id>` answers "what do we hold about this customer, and what
did they agree to" without JSON: their effective state in words, their consent history
and receipts, decisions with violations, holds, erasures and audit entries, each part
shown only to a session whose scopes may read it. From it staff export everything
(the subject access bundle), place a hold, or erase the person.

Erasing, lifting a hold and a real purge each go through a confirmation page that names
the consequences first; only the form on that page, carrying `confirm=1` (and, for an
erasure, the subject id typed again), acts.
"""

from __future__ import annotations

import json

from flask import Response, redirect, request, url_for

from audit import service as audit_service
from audit.actions import ACTIONS
from consent import decisions, ledger
from consent.state import ConsentState
from consentry.clock import utcnow
from consentry.db import get_session
from consentry.fields import is_subject_id
from consentry.policy import BASE_LANGUAGE, get_policy
from consentry.secretstore import get_keys
from console.views import Refused, _may, _render, _store_names, actor, bp, page
from governance import privacy_requests
from governance.access import ERASED_NOTE
from pages import text as words
from retention import service as retention

HISTORY_ROWS = 100
DECISION_ROWS = 20
AUDIT_ROWS = 50
READS_HOLDS = ("retention:admin", "erasure:write")


@bp.app_template_filter("action_label")
def action_label(action: str) -> str:
    """An audit action in words (the one list in audit/actions.py)."""
    meaning = ACTIONS.get(action)
    return meaning[0].upper() + meaning[1:] if meaning else action


@bp.app_template_filter("field_value")
def _field_value(value) -> str:
    """A detail's value as staff read it: text as is, lists joined, a mapping as labelled
    pairs (empty ones left out), never JSON."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        pairs = [f"{_field_label(k).lower()} {_field_value(v)}"
                 for k, v in sorted(value.items()) if v not in (None, "", [], {})]
        return ", ".join(pairs) or "—"
    if isinstance(value, list):
        return "; ".join(_field_value(v) for v in value) or "none"
    return str(value)


@bp.app_template_filter("field_label")
def _field_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


@bp.get("/subjects")
@page("preferences:read")
def subject_search(signed):
    """Find a person by their subject id (the search box on every console page)."""
    query = request.args.get("q", "").strip()
    if is_subject_id(query):
        return redirect(url_for("console.subject_page", subject_id=query), code=303)
    problem = ("Enter a subject id: 1 to 128 letters, digits and . _ : @ -." if query
               else None)
    return _render("console/subject_search.html", status=422 if query else 200,
                   query=query, problem=problem)


def _state_rows(state: ConsentState | None, subject_id: str) -> tuple[dict, list[dict]]:
    policy, now = get_policy(), utcnow()
    described = ledger.describe_state(subject_id, state or ConsentState(), policy, now)
    sensitivity = {c.id: c.sensitivity for c in policy.categories.values()}
    rows = []
    for entry in described["entries"]:
        rows.append({**entry, "why": words.why(
            entry["reason"], entry["since"], BASE_LANGUAGE,
            sensitive=sensitivity.get(entry["category"]) != "standard"
            if entry["category"] else False, purpose=entry["purpose_label"])})
    return described, rows


@bp.get("/subjects/<subject:subject_id>")
@page("preferences:read")
def subject_page(signed, subject_id):
    """Everything the service holds about one person, readable, with what staff can do."""
    session, keys = get_session(), get_keys()
    state = ledger.load_state(session, subject_id)
    described, rows = _state_rows(state, subject_id)
    events = ledger.history(session, subject_id, HISTORY_ROWS, None)["events"]
    receipts = ledger.subject_receipts(session, subject_id)
    recent = None
    if _may(signed, ("explanations:read",)):
        recent, _ = decisions.recent_decisions(session, subject_id, None, DECISION_ROWS, None)
    holds = erasures = None
    if _may(signed, READS_HOLDS):
        holds = [retention.hold_document(session, keys, h)
                 for h in retention.subject_holds(session, subject_id)]
        erasures = [retention.erasure_document(e)
                    for e in retention.subject_erasures(session, keys, subject_id)]
    requests = None
    if _may(signed, ("requests:read",)):
        now = utcnow()
        requests = [privacy_requests.request_document(session, r, now=now, with_history=False)
                    for r in privacy_requests.subject_requests(session, subject_id)]
    entries = None
    if _may(signed, ("audit:read",)):
        found, _ = audit_service.list_entries(session, keys, subject_id=subject_id,
                                              limit=AUDIT_ROWS)
        entries = [audit_service.entry_view(session, keys, e) for e in found]
    return _render("console/subject.html", subject_id=subject_id, state=described,
                   known=state is not None or bool(events), rows=rows, events=events,
                   receipts=receipts, decisions=recent, holds=holds, erasures=erasures,
                   entries=entries, requests=requests,
                   request_types=privacy_requests.TYPES,
                   may_request=_may(signed, ("requests:write",)),
                   may_export=_may(signed, ("audit:export",)),
                   may_hold=_may(signed, ("retention:admin",)),
                   may_erase=_may(signed, ("erasure:write",)))


@bp.get("/subjects/<subject:subject_id>/receipts/<receipt_id>.json")
@page("preferences:read")
def subject_receipt(signed, subject_id, receipt_id):
    """One signed receipt of the person, to download and check on its own."""
    receipt = ledger.get_receipt(get_session(), subject_id, receipt_id)
    body = json.dumps(receipt, indent=2, sort_keys=True, ensure_ascii=False)
    return Response(body + "\n", mimetype="application/json", headers={
        "Content-Disposition": f"attachment; filename=receipt-{receipt_id}.json"})


def _erasure_consequences(subject_id: str) -> dict:
    """What an erasure of the subject would delete, and the holds that would make it
    wait or keep rows (read only)."""
    session, keys, policy = get_session(), get_keys(), get_policy()
    now = utcnow()
    active = retention.active_holds(session, now)
    return {
        "events": len(ledger.subject_events(session, subject_id)),
        "receipts": len(ledger.subject_receipts(session, subject_id)),
        "decisions": len(decisions.subject_decisions(session, subject_id)),
        "stores": _store_names(),
        "targets": [t.name for t in policy.retention_targets],
        "subject_holds": [retention.hold_document(session, keys, h) for h in active
                          if h.subject_id == subject_id],
        "category_holds": [retention.hold_document(session, keys, h) for h in active
                           if h.category],
        "note": ERASED_NOTE,
    }


@bp.post("/subjects/<subject:subject_id>/erasure")
@page("erasure:write")
def subject_erasure(signed, subject_id):
    """Erase the person, once the confirmation page's form says so (`confirm=1` and the
    subject id typed again); any other post shows that page and changes nothing."""
    reason = request.form.get("reason", "").strip()[:500]
    if request.form.get("confirm") == "1":
        typed = request.form.get("confirm_subject_id", "").strip()
        if typed == subject_id:
            erasure = retention.queue_erasure(get_session(), get_keys(), subject_id,
                                              actor(signed), reason or None)
            return redirect(url_for("console.erasure_page", erasure_id=erasure.id), code=303)
        return _render("console/confirm_erasure.html", status=422, subject_id=subject_id,
                       reason=reason, consequences=_erasure_consequences(subject_id),
                       problem="The subject id typed does not match: nothing was erased.")
    return _render("console/confirm_erasure.html", subject_id=subject_id, reason=reason,
                   consequences=_erasure_consequences(subject_id), problem=None)


# -- holds and purges: confirm first ---------------------------------------------------------


@bp.get("/retention/holds/<hold_id>/lift")
@page("retention:admin")
def hold_lift_confirm(signed, hold_id):
    """What lifting the hold would release, and the form that lifts it."""
    return _hold_lift_page(hold_id)


def _hold_lift_page(hold_id: str, status: int = 200) -> Response:
    session, keys = get_session(), get_keys()
    hold = retention.get_hold(session, hold_id)
    return _render("console/confirm_lift.html", status=status,
                   hold=retention.hold_document(session, keys, hold),
                   erasures=retention.erasures_after_lifting(session, hold.id, utcnow()))


@bp.get("/retention/runs/<run_id>/purge")
@page("retention:admin")
def purge_confirm(signed, run_id):
    """A real purge of what a finished dry run counted: its counts, and the form."""
    run = retention.run_document(retention.get_run(get_session(), run_id))
    if not run["dry_run"] or run["status"] != "succeeded":
        raise Refused("Only a dry run that finished can be turned into a purge: its counts "
                      "are what the confirmation shows.", code="conflict", status=409)
    return _render("console/confirm_purge.html", run=run)


@bp.post("/retention/runs/<run_id>/purge")
@page("retention:admin")
def purge_post(signed, run_id):
    """Queue the real purge of the dry run's targets (with `confirm=1` only)."""
    session = get_session()
    run = retention.run_document(retention.get_run(session, run_id))
    if not run["dry_run"] or run["status"] != "succeeded":
        raise Refused("Only a dry run that finished can be turned into a purge.",
                      code="conflict", status=409)
    if request.form.get("confirm") != "1":
        return _render("console/confirm_purge.html", run=run)
    known = retention.target_names(get_policy(), _store_names())
    purge = retention.queue_run(session, get_keys(), known, dry_run=False,
                                targets=[t["name"] for t in run["targets"]] or None,
                                trigger="console", actor=actor(signed))
    return redirect(url_for("console.run_page", run_id=purge.id), code=303)


def lift_confirmed(signed, hold_id: str) -> Response | None:
    """The hold-lift POST: None once lifted, else the confirmation page to show."""
    if request.form.get("confirm") != "1":
        return _hold_lift_page(hold_id)
    retention.lift_hold(get_session(), get_keys(), hold_id, actor(signed))
    return None
