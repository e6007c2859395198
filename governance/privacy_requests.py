"""Privacy requests (DSAR): a person's access, erasure, objection or rectification request,
its legal deadline from the jurisdiction, its transitions, and what fulfils it.

Completing an `access` request queues the subject access bundle (audit.export_jobs, the
export of kind `subject_access` that governance.access fills); completing an `erasure`
request queues the erasure (retention.service.queue_erasure), which waits under a hold
like any other. That is why this lives in governance: it is the one domain allowed to
call both audit exports and retention (docs/ARCHITECTURE.md).

Every function takes the caller's session, keys and policy, takes the actor as an
argument (`key:<name>`, `staff:<email>`, or whatever the entry names), and never commits.
Every step is audited; free text (the note, reasons) goes into the audit entry sealed
under the subject's key, so it is shredded with the subject's key on erasure.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from audit import export_jobs
from audit.export import SUBJECT_ACCESS, ExportRequest
from audit.service import append_entry
from consentry.clock import rfc3339, utcnow
from consentry.errors import Conflict, Invalid, NotFound
from consentry.pagination import decode_keyset, encode_keyset
from consentry.policy import Policy
from consentry.secretstore import SecretStore
from governance.models import PrivacyRequest, RequestTransition
from retention import service as retention
from webhooks import service as outbox

TYPES = ("access", "erasure", "objection", "rectification")
RECEIVED, IN_PROGRESS, EXTENDED, COMPLETED, REJECTED = (
    "received", "in_progress", "extended", "completed", "rejected")
STATUSES = (RECEIVED, IN_PROGRESS, EXTENDED, COMPLETED, REJECTED)
OPEN = (RECEIVED, IN_PROGRESS, EXTENDED)
CLOSED = (COMPLETED, REJECTED)
TARGETS = (IN_PROGRESS, COMPLETED, REJECTED)  # what `transition` may move a request to
# `?status=open`: every request still to be answered (received, in progress or extended).
OPEN_FILTER = "open"
MAX_NOTE = 2000
MAX_REASON = 1000


def new_id() -> str:
    return uuid.uuid4().hex


def due_date(policy: Policy, jurisdiction: str, received_at: datetime) -> datetime:
    """When a request received at `received_at` must be answered in `jurisdiction`."""
    return policy.jurisdictions[jurisdiction].request_due.after(received_at)


def create_request(session: Session, keys: SecretStore, policy: Policy, *, subject_id: str,
                   type: str, jurisdiction: str | None, source: str, actor: str,
                   received_at: datetime | None = None, note: str | None = None,
                   now: datetime | None = None) -> PrivacyRequest:
    """Record a privacy request with its due date from the jurisdiction; audited.

    `jurisdiction` defaults to the policy's default; `received_at` to now, and one in
    the future is refused (422). `source` says where it came from (`api`, `console`,
    `preference_page`, `email`...).
    """
    now = now or utcnow()
    if type not in TYPES:
        raise Invalid("unknown request type",
                      fields={"type": [f"Must be one of: {', '.join(TYPES)}."]})
    jurisdiction = jurisdiction or policy.default_jurisdiction
    policy.check_ids(jurisdiction=jurisdiction)
    received_at = received_at or now
    if received_at > now:
        raise Invalid("received_at is in the future",
                      fields={"received_at": ["Must not be in the future."]})
    note = (note or "").strip() or None
    try:
        due_at = due_date(policy, jurisdiction, received_at)
    except (OverflowError, ValueError) as exc:  # a deadline past the calendar's end
        raise Invalid("no due date can be computed",
                      fields={"received_at": ["Too far from today."]}) from exc
    row = PrivacyRequest(id=new_id(), subject_id=subject_id, type=type, status=RECEIVED,
                         jurisdiction=jurisdiction, source=source, note=note,
                         received_at=received_at, due_at=due_at, extended=False,
                         created_by=actor, created_at=now)
    session.add(row)
    session.flush()
    _step(session, keys, row, actor, now, note, action="request.created", due_at=due_at)
    outbox.emit(session, policy, outbox.REQUEST_CREATED, subject_id, lambda _r: {
        "subject_id": subject_id, "request_id": row.id, "type": type,
        "jurisdiction": jurisdiction, "due_at": rfc3339(due_at)}, now=now)
    return row


def get_request(session: Session, request_id: str) -> PrivacyRequest:
    row = session.get(PrivacyRequest, request_id) if len(request_id) <= 32 else None
    if row is None:
        raise NotFound(f"no request {request_id!r}")
    return row


def _locked(session: Session, request_id: str) -> PrivacyRequest:
    """The request, its row locked for the rest of the transaction (two staff at once)."""
    if len(request_id) > 32:
        raise NotFound(f"no request {request_id!r}")
    row = session.scalar(select(PrivacyRequest).where(PrivacyRequest.id == request_id)
                         .with_for_update().execution_options(populate_existing=True))
    if row is None:
        raise NotFound(f"no request {request_id!r}")
    return row


def transition(session: Session, keys: SecretStore, policy: Policy, request_id: str, to: str,
               *, actor: str, reason: str | None = None,
               now: datetime | None = None) -> PrivacyRequest:
    """Move an open request to `in_progress`, `completed` or `rejected`; audited.

    A closed request, or a move to the status it has, is a 409; `rejected` needs a
    reason (422). Completing an access request queues its subject access bundle
    (`export_id`); completing an erasure request queues the erasure (`erasure_id`),
    which a legal hold makes wait.
    """
    now = now or utcnow()
    if to not in TARGETS:
        raise Invalid("unknown status", fields={"to": [f"Must be one of: {', '.join(TARGETS)}."]})
    reason = (reason or "").strip() or None
    if to == REJECTED and reason is None:
        raise Invalid("a rejection needs a reason",
                      fields={"reason": ["A rejection needs a reason."]})
    row = _locked(session, request_id)
    if row.status in CLOSED:
        raise Conflict(f"request {row.id} is {row.status} already; it cannot change",
                       code="request_closed")
    if to == row.status:
        raise Conflict(f"request {row.id} is {row.status} already", code="request_unchanged")
    details: dict[str, Any] = {}
    if to == COMPLETED and row.type == "access":
        job = export_jobs.queue_export(session, keys, ExportRequest(
            exporter=actor, reason=f"privacy request {row.id}", subject_id=row.subject_id,
            kind=SUBJECT_ACCESS))
        row.export_id = details["export_id"] = job.id
    elif to == COMPLETED and row.type == "erasure":
        erasure = retention.queue_erasure(session, keys, row.subject_id, actor,
                                          reason=f"privacy request {row.id}")
        row.erasure_id = details["erasure_id"] = erasure.id
    row.status = to
    if to in CLOSED:
        row.closed_at = now
    action = ("request.started" if to == IN_PROGRESS
              else "request.completed" if to == COMPLETED else "request.rejected")
    _step(session, keys, row, actor, now, reason, action=action, details=details)
    if to == COMPLETED:
        outbox.emit(session, policy, outbox.REQUEST_COMPLETED, row.subject_id, lambda _r: {
            "subject_id": row.subject_id, "request_id": row.id, "type": row.type,
            "completed_at": rfc3339(now), **details}, now=now)
    return row


def extend(session: Session, keys: SecretStore, policy: Policy, request_id: str, *,
           reason: str, actor: str, now: datetime | None = None) -> PrivacyRequest:
    """Move an open request's due date by its jurisdiction's `request_extension`, once,
    with the reason the person must be told (GDPR Art. 12(3)); audited. A second
    extension, or one of a closed request, is a 409."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("an extension needs a reason",
                      fields={"reason": ["An extension needs a reason."]})
    row = _locked(session, request_id)
    if row.status in CLOSED:
        raise Conflict(f"request {row.id} is {row.status} already; it cannot change",
                       code="request_closed")
    if row.extended:
        raise Conflict(f"request {row.id} was extended already; it may be extended once",
                       code="request_extended")
    jurisdiction = policy.jurisdiction(row.jurisdiction)
    row.due_at = jurisdiction.request_extension.after(row.due_at)
    row.extended = True
    row.status = EXTENDED
    _step(session, keys, row, actor, now, reason, action="request.extended", due_at=row.due_at)
    return row


def _step(session: Session, keys: SecretStore, row: PrivacyRequest, actor: str,
          at: datetime, reason: str | None, *, action: str, due_at: datetime | None = None,
          details: dict[str, Any] | None = None) -> None:
    """Append the request's step (its status now) to its history and the audit log."""
    status = row.status
    seq = (session.scalar(select(RequestTransition.seq)
                          .where(RequestTransition.request_id == row.id)
                          .order_by(RequestTransition.seq.desc()).limit(1)) or 0) + 1
    session.add(RequestTransition(request_id=row.id, seq=seq, status=status, at=at,
                                  actor=actor, reason=reason, due_at=due_at))
    append_entry(session, keys, action, actor=actor, subject_id=row.subject_id,
                 details={"request_id": row.id, "type": row.type, "status": status,
                          "jurisdiction": row.jurisdiction, "source": row.source,
                          "due_at": rfc3339(row.due_at), **(details or {})},
                 personal={"reason": reason} if reason else None)


def history(session: Session, request_id: str) -> list[RequestTransition]:
    """The request's steps, in order."""
    return list(session.scalars(select(RequestTransition)
                                .where(RequestTransition.request_id == request_id)
                                .order_by(RequestTransition.seq)))


def _filters(*, status: str | None = None, type: str | None = None,
             jurisdiction: str | None = None, due_before: datetime | None = None,
             subject_id: str | None = None) -> list:
    clauses = []
    if status == OPEN_FILTER:
        clauses.append(PrivacyRequest.status.in_(OPEN))
    elif status is not None:
        clauses.append(PrivacyRequest.status == status)
    if type is not None:
        clauses.append(PrivacyRequest.type == type)
    if jurisdiction is not None:
        clauses.append(PrivacyRequest.jurisdiction == jurisdiction)
    if due_before is not None:
        clauses.append(PrivacyRequest.due_at < due_before)
    if subject_id is not None:
        clauses.append(PrivacyRequest.subject_id == subject_id)
    return clauses


def list_requests(session: Session, *, limit: int, cursor: str | None = None,
                  **filters: Any) -> tuple[list[PrivacyRequest], str | None]:
    """Requests, soonest due first (filters: status (or `open`), type, jurisdiction,
    due_before, subject_id); return (rows, next cursor or None)."""
    query = select(PrivacyRequest).where(*_filters(**filters))
    position = decode_keyset(cursor)
    if position is not None:
        at, row_id = position
        query = query.where(or_(PrivacyRequest.due_at > at,
                                and_(PrivacyRequest.due_at == at, PrivacyRequest.id > row_id)))
    rows = list(session.scalars(query.order_by(PrivacyRequest.due_at, PrivacyRequest.id)
                                .limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_keyset(rows[-1].due_at, rows[-1].id) if more and rows else None)


def all_requests(session: Session, **filters: Any) -> list[PrivacyRequest]:
    """Every request the filters match, soonest due first (the queue's CSV)."""
    return list(session.scalars(select(PrivacyRequest).where(*_filters(**filters))
                                .order_by(PrivacyRequest.due_at, PrivacyRequest.id)))


def subject_requests(session: Session, subject_id: str) -> list[PrivacyRequest]:
    """Every request of the subject, oldest first."""
    return list(session.scalars(select(PrivacyRequest)
                                .where(PrivacyRequest.subject_id == subject_id)
                                .order_by(PrivacyRequest.received_at, PrivacyRequest.id)))


def days_left(row: PrivacyRequest, now: datetime) -> int:
    """Whole days until the request is due (0 on its last day, negative once overdue)."""
    return math.floor((row.due_at - now) / timedelta(days=1))


def is_overdue(row: PrivacyRequest, now: datetime) -> bool:
    return row.status in OPEN and row.due_at < now


def queue_counts(session: Session, now: datetime) -> dict[str, int]:
    """Open requests: how many, how many due in the next seven days, how many overdue."""
    rows = list(session.scalars(select(PrivacyRequest.due_at)
                                .where(PrivacyRequest.status.in_(OPEN))))
    week = now + timedelta(days=7)
    return {"open": len(rows), "overdue": sum(1 for d in rows if d < now),
            "due_this_week": sum(1 for d in rows if now <= d < week)}


def request_document(session: Session, row: PrivacyRequest, *, now: datetime | None = None,
                     with_history: bool = True) -> dict[str, Any]:
    """A request as the API shows it: with its history, and the state of the bundle or
    erasure that fulfils it (`erasure_status` `held` while a legal hold makes it wait)."""
    now = now or utcnow()
    document: dict[str, Any] = {
        "request_id": row.id, "subject_id": row.subject_id, "type": row.type,
        "status": row.status, "jurisdiction": row.jurisdiction, "source": row.source,
        "note": row.note, "received_at": row.received_at, "due_at": row.due_at,
        "extended": row.extended, "days_left": days_left(row, now) if row.status in OPEN else None,
        "overdue": is_overdue(row, now), "closed_at": row.closed_at,
        "created_by": row.created_by, "export_id": row.export_id, "erasure_id": row.erasure_id,
    }
    if row.export_id is not None:
        try:
            document["export_status"] = export_jobs.describe_export(session, row.export_id)["state"]
        except NotFound:  # the bundle and its job are gone (retention): say so
            document["export_status"] = "gone"
    if row.erasure_id is not None:
        try:
            erasure = retention.erasure_document(retention.get_erasure(session, row.erasure_id))
        except NotFound:
            document["erasure_status"] = "gone"
        else:
            document["erasure_status"] = erasure["status"]
            document["waiting_for_holds"] = erasure["waiting_for_holds"]
    if with_history:
        document["history"] = [{"status": t.status, "at": t.at, "actor": t.actor,
                                "reason": t.reason, "due_at": t.due_at}
                               for t in history(session, row.id)]
    return document


CSV_COLUMNS = ("request_id", "subject_id", "type", "status", "jurisdiction", "source",
               "received_at", "due_at", "days_left", "overdue", "extended", "export_id",
               "erasure_id")


def requests_csv(rows: list[PrivacyRequest], now: datetime) -> str:
    """The queue as a spreadsheet (one row per request, the columns of CSV_COLUMNS)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.id, _cell(row.subject_id), row.type, row.status, row.jurisdiction,
                         _cell(row.source), rfc3339(row.received_at), rfc3339(row.due_at),
                         days_left(row, now) if row.status in OPEN else "",
                         "yes" if is_overdue(row, now) else "no",
                         "yes" if row.extended else "no", row.export_id or "",
                         row.erasure_id or ""])
    return out.getvalue()


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
