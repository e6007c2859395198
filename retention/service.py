"""Retention rules: classes and cutoffs, holds, runs and erasures.

Every function takes the caller's session and never commits: the request, the CLI
command or the scheduler job owns the transaction (see retention/runner.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.service import append_entry, destroy_subject_key
from consentry import queue
from consentry.clock import rfc3339, utcnow
from consentry.errors import Conflict, Invalid, NotFound
from consentry.pagination import decode_keyset, encode_keyset
from consentry.policy import Policy
from consentry.secretstore import SecretStore
from consentry.stores import Held
from retention.models import Erasure, LegalHold, RetentionRun
from retention.targets import safe_url

MAX_ERASURE_RESTARTS = 3


def new_id() -> str:
    return uuid.uuid4().hex


# -- classes, cutoffs, targets -------------------------------------------------------------


def compute_cutoffs(policy: Policy, now: datetime) -> dict[str, datetime | None]:
    """Return each class's cutoff (rows older go); None for classes kept for the account."""
    return {name: (None if days is None else now - timedelta(days=days))
            for name, days in policy.retention_classes.items()}


def target_names(policy: Policy, store_names: list[str]) -> list[str]:
    """Every target a run can purge: own stores first, then the policy's external tables."""
    return sorted(store_names) + [t.name for t in policy.retention_targets]


def describe_policy(policy: Policy, store_names: list[str], schedule: str) -> dict[str, Any]:
    """Classes, their days, and every target, as `GET /v1/retention/policy` shows them."""
    targets: list[dict[str, Any]] = [{"name": name, "kind": "internal"}
                                     for name in sorted(store_names)]
    for t in policy.retention_targets:
        targets.append({"name": t.name, "kind": "external", "url": safe_url(t.url),
                        "table": t.table, "timestamp_column": t.timestamp_column,
                        "subject_column": t.subject_column, "class": t.retention_class,
                        "category_column": t.category_column})
    return {
        "policy_version": policy.version,
        "classes": [{"name": name, "days": days,
                     "kept_for_account_lifetime": days is None,
                     "categories": sorted(c.id for c in policy.categories.values()
                                          if c.retention_class == name)}
                    for name, days in policy.retention_classes.items()],
        "decisions_class": policy.decisions_class,
        "targets": targets,
        "schedule": schedule,
    }


# -- pages ----------------------------------------------------------------------------------


def _page(session: Session, model, query, limit: int, cursor: str | None):
    """Newest first, `limit` rows after `cursor`; return (rows, next cursor or None)."""
    if cursor:
        when, row_id = decode_keyset(cursor)
        query = query.where(or_(model.created_at < when,
                                and_(model.created_at == when, model.id < row_id)))
    rows = list(session.scalars(query.order_by(model.created_at.desc(), model.id.desc())
                                .limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_keyset(rows[-1].created_at, rows[-1].id) if more and rows else None)


# -- legal holds ---------------------------------------------------------------------------


def create_hold(session: Session, keys: SecretStore, policy: Policy, *, subject_id: str | None,
                category: str | None, reason: str, until: datetime | None,
                actor: str) -> LegalHold:
    """Place a legal hold on a subject or a category; audited."""
    if (subject_id is None) == (category is None):
        raise Invalid("give exactly one of subject_id or category",
                      fields={"subject_id": ["Give exactly one of subject_id or category."]})
    policy.check_ids(category=category)
    if not reason.strip():
        raise Invalid("a hold needs a reason", fields={"reason": ["Must not be blank."]})
    now = utcnow()
    if until is not None and until <= now:
        raise Invalid("until must be in the future", fields={"until": ["Must be in the future."]})
    hold = LegalHold(id=new_id(), subject_id=subject_id, category=category, reason=reason,
                     until=until, created_by=actor, created_at=now)
    session.add(hold)
    append_entry(session, keys, "retention.hold.created", actor=actor, subject_id=subject_id,
                 details={"hold_id": hold.id, "category": category, "until": rfc3339(until),
                          "by": "subject" if subject_id else "category"},
                 personal={"reason": reason} if subject_id else None)
    return hold


def lift_hold(session: Session, keys: SecretStore, hold_id: str, actor: str) -> LegalHold:
    """Lift a hold; lifting one already lifted changes nothing. Audited."""
    hold = session.get(LegalHold, hold_id) if len(hold_id) <= 32 else None
    if hold is None:
        raise NotFound(f"no hold {hold_id!r}")
    if hold.lifted_at is None:
        hold.lifted_at = utcnow()
        hold.lifted_by = actor
        append_entry(session, keys, "retention.hold.lifted", actor=actor,
                     subject_id=hold.subject_id,
                     details={"hold_id": hold.id, "category": hold.category})
    return hold


def _active(now: datetime):
    return and_(LegalHold.lifted_at.is_(None),
                or_(LegalHold.until.is_(None), LegalHold.until > now))


def list_holds(session: Session, limit: int, cursor: str | None, include_lifted: bool = False):
    """Holds, newest first; active ones only unless `include_lifted`."""
    query = select(LegalHold)
    if not include_lifted:
        query = query.where(_active(utcnow()))
    return _page(session, LegalHold, query, limit, cursor)


def active_holds(session: Session, now: datetime) -> list[LegalHold]:
    return list(session.scalars(select(LegalHold).where(_active(now))
                                .order_by(LegalHold.created_at)))


def held_from(holds: list[LegalHold]) -> Held:
    """What the holds protect, as the store registry's `Held`."""
    return Held(subject_ids=frozenset(h.subject_id for h in holds if h.subject_id),
                categories=frozenset(h.category for h in holds if h.category))


def hold_document(hold: LegalHold) -> dict[str, Any]:
    return {"id": hold.id, "subject_id": hold.subject_id, "category": hold.category,
            "reason": hold.reason, "until": rfc3339(hold.until), "created_by": hold.created_by,
            "created_at": rfc3339(hold.created_at), "lifted_at": rfc3339(hold.lifted_at),
            "active": hold.lifted_at is None and (hold.until is None or hold.until > utcnow())}


# -- runs ----------------------------------------------------------------------------------


def queue_run(session: Session, keys: SecretStore, known_targets: list[str], *, dry_run: bool,
              targets: list[str] | None,
              trigger: str, actor: str, scheduled_for: datetime | None = None,
              resumes: str | None = None) -> RetentionRun:
    """Queue a run for the scheduler (or the CLI) to carry out; audited."""
    if targets is not None:
        known = set(known_targets)
        unknown = [t for t in targets if t not in known]
        if unknown:
            raise Invalid(f"unknown target(s): {', '.join(unknown)}",
                          fields={"targets": [f"Unknown target {t!r}." for t in unknown]})
        if not targets:
            raise Invalid("targets must not be empty; leave it out to purge every target",
                          fields={"targets": ["Must not be empty."]})
        targets = list(dict.fromkeys(targets))
    run = RetentionRun(id=new_id(), status="queued", dry_run=dry_run, trigger=trigger,
                       requested_by=actor, targets=targets, scheduled_for=scheduled_for,
                       resumes=resumes, cutoffs={}, report={}, created_at=utcnow())
    session.add(run)
    session.flush()
    append_entry(session, keys, "retention.run.queued", actor=actor,
                 details={"run_id": run.id, "dry_run": dry_run, "targets": targets,
                          "trigger": trigger, "resumes": resumes})
    return run


def queue_scheduled_run(session: Session, keys: SecretStore, known_targets: list[str],
                        slot: datetime) -> RetentionRun | None:
    """Queue the purge of one schedule slot; None when another scheduler queued it first."""
    try:
        with session.begin_nested():
            return queue_run(session, keys, known_targets, dry_run=False, targets=None,
                             trigger="schedule", actor="scheduler", scheduled_for=slot)
    except IntegrityError:
        return None


def get_run(session: Session, run_id: str) -> RetentionRun:
    run = session.get(RetentionRun, run_id) if len(run_id) <= 32 else None
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    return run


def list_runs(session: Session, limit: int, cursor: str | None, status: str | None = None):
    query = select(RetentionRun)
    if status:
        query = query.where(RetentionRun.status == status)
    return _page(session, RetentionRun, query, limit, cursor)


def claim_run(session: Session, holder: str, run_id: str | None = None) -> RetentionRun | None:
    """Mark the oldest queued run (or `run_id`) running for `holder`; None if none is left."""
    return queue.claim(session, RetentionRun, holder, run_id)


def start_run(session: Session, policy: Policy, run: RetentionRun,
              names: list[str]) -> tuple[dict[str, datetime | None], Held, list[LegalHold]]:
    """Fix the run's cutoffs and holds once, at its start, and lay out its report."""
    now = run.started_at or utcnow()
    cutoffs = compute_cutoffs(policy, now)
    holds = active_holds(session, now)
    run.cutoffs = {name: rfc3339(c) for name, c in cutoffs.items()}
    # A dry run also says what a real run would delete: expired rows no hold keeps.
    dry = {"would_delete": 0} if run.dry_run else {}
    run.report = {"targets": {name: {"status": "pending", "matched": 0, "deleted": 0,
                                     "held": 0, **dry, "error": None} for name in names},
                  "holds": [h.id for h in holds], "policy_version": policy.version}
    return cutoffs, held_from(holds), holds


def save_progress(session: Session, run: RetentionRun, report: dict[str, Any]) -> None:
    """Store the run's per-target progress and heartbeat (a fresh dict, so JSON is saved)."""
    run.report = json.loads(json.dumps(report))
    queue.heartbeat(run)


def finish_run(session: Session, keys: SecretStore, run: RetentionRun,
               report: dict[str, Any]) -> None:
    """Close the run: succeeded unless a target failed; audited with its counts."""
    targets = report["targets"]
    failed = sorted(name for name, t in targets.items() if t["status"] == "failed")
    run.report = json.loads(json.dumps(report))
    queue.finish(run, queue.FAILED if failed else queue.SUCCEEDED,
                 f"{len(failed)} of {len(targets)} target(s) failed: {', '.join(failed)}"
                 if failed else None)
    append_entry(session, keys, "retention.run.finished", actor=run.requested_by,
                 details={"run_id": run.id, "status": run.status, "dry_run": run.dry_run,
                          "trigger": run.trigger, "cutoffs": run.cutoffs,
                          "totals": totals(targets),
                          "targets": {name: {k: t[k] for k in ("status", "matched", "deleted",
                                                                 "held")}
                                      for name, t in targets.items()}})


def fail_run(session: Session, keys: SecretStore, run: RetentionRun, message: str) -> None:
    """Close a run that could not go on at all; audited."""
    queue.finish(run, queue.FAILED, message)
    append_entry(session, keys, "retention.run.finished", actor=run.requested_by,
                 details={"run_id": run.id, "status": "failed", "error": message,
                          "totals": totals(run.report.get("targets", {}))})


def totals(targets: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = {k: sum(int(t.get(k) or 0) for t in targets.values())
              for k in ("matched", "deleted", "held")}
    if any("would_delete" in t for t in targets.values()):  # a dry run
        counts["would_delete"] = sum(int(t.get("would_delete") or 0) for t in targets.values())
    return counts


def abandon_dead_work(session: Session, keys: SecretStore,
                      known_targets: list[str]) -> list[str]:
    """Mark runs left `running` by a dead runner abandoned and queue a run to finish them.

    Only called by the holder of the runner lease: while it holds it, nothing else runs,
    so anything still `running` belongs to a process that died. Erasures are put back
    in the queue (an erasure must complete). Returns the abandoned run ids.
    """
    abandoned = []
    for run in queue.left_running(session, RetentionRun):
        queue.finish(run, queue.ABANDONED,
                     f"the runner {run.holder} stopped before finishing; a new run resumes")
        abandoned.append(run.id)
        append_entry(session, keys, "retention.run.abandoned", actor="scheduler",
                     details={"run_id": run.id, "holder": run.holder,
                              "totals": totals(run.report.get("targets", {}))})
        if run.trigger == "resume":
            continue  # resumed once already: the next scheduled purge takes it from here
        still_known = [t for t in run.targets or () if t in known_targets] or None
        queue_run(session, keys, known_targets, dry_run=run.dry_run, targets=still_known,
                  trigger="resume", actor="scheduler", resumes=run.id)
    for erasure in queue.left_running(session, Erasure):
        restarts = int(erasure.report.get("restarts", 0))
        if restarts >= MAX_ERASURE_RESTARTS:
            fail_erasure(session, keys, erasure, f"the runner stopped {restarts + 1} times")
            continue
        queue.requeue(erasure)
        erasure.report = {**erasure.report, "restarts": restarts + 1}
        append_entry(session, keys, "erasure.restarted", actor="scheduler",
                     details={"erasure_id": erasure.id, "holder": erasure.holder})
    return abandoned


def run_document(run: RetentionRun) -> dict[str, Any]:
    """A run as the API shows it."""
    targets = run.report.get("targets", {})
    return {
        "run_id": run.id, "status": run.status, "dry_run": run.dry_run,
        "trigger": run.trigger, "requested_by": run.requested_by,
        "targets_requested": run.targets, "scheduled_for": rfc3339(run.scheduled_for),
        "resumes": run.resumes, "cutoffs": run.cutoffs,
        "targets": [{"name": name, **values} for name, values in targets.items()],
        "totals": totals(targets), "policy_version": run.report.get("policy_version"),
        "created_at": rfc3339(run.created_at), "started_at": rfc3339(run.started_at),
        "finished_at": rfc3339(run.finished_at), "error": run.error,
    }


# -- erasures ------------------------------------------------------------------------------


def queue_erasure(session: Session, keys: SecretStore, subject_id: str, actor: str,
                  reason: str | None = None) -> Erasure:
    """Queue the erasure of a subject (GDPR Art. 17), with why (a ticket reference); audited.

    The reason is kept with the erasure; in the audit entry it is sealed under the
    subject's key like other free text. A request while one is pending returns that one.
    """
    ref = keys.subject_ref(subject_id)
    pending = session.scalar(select(Erasure).where(
        Erasure.subject_ref == ref,
        Erasure.status.in_(("queued", "running"))))
    if pending is not None:
        return pending
    erasure = Erasure(id=new_id(), subject_id=subject_id, subject_ref=ref, reason=reason or None,
                      status="queued", requested_by=actor, report={}, created_at=utcnow())
    session.add(erasure)
    session.flush()
    append_entry(session, keys, "erasure.requested", actor=actor, subject_id=subject_id,
                 details={"erasure_id": erasure.id},
                 personal={"reason": reason} if reason else None)
    return erasure


def claim_erasure(session: Session, holder: str) -> Erasure | None:
    """Mark the oldest queued erasure running for `holder`; None if none is queued."""
    return queue.claim(session, Erasure, holder)


def list_erasures(session: Session, limit: int, cursor: str | None):
    """Erasures, newest first; return (rows, next cursor or None)."""
    return _page(session, Erasure, select(Erasure), limit, cursor)


def get_erasure(session: Session, erasure_id: str) -> Erasure:
    erasure = session.get(Erasure, erasure_id) if len(erasure_id) <= 32 else None
    if erasure is None:
        raise NotFound(f"no erasure {erasure_id!r}")
    return erasure


def finish_erasure(session: Session, keys: SecretStore, erasure: Erasure,
                   targets: dict[str, dict[str, Any]], holds: list[LegalHold]) -> None:
    """Shred the subject's audit key, sign the certificate, forget the subject id; audited."""
    if erasure.subject_id is None:
        raise Conflict("erasure already finished")
    subject_id = erasure.subject_id
    applying = [h for h in holds if h.subject_id == subject_id or h.category]
    kept = [{"hold_id": h.id, "by": "subject" if h.subject_id else "category",
             "category": h.category, "reason": h.reason, "until": rfc3339(h.until)}
            for h in applying
            if h.subject_id or any(t.get("held") for t in targets.values())]
    shredded = destroy_subject_key(session, keys, subject_id)
    now = utcnow()
    document = {
        "type": "consentry.erasure-certificate/v1",
        "erasure_id": erasure.id,
        "subject_ref": erasure.subject_ref,
        "requested_at": rfc3339(erasure.created_at),
        "completed_at": rfc3339(now),
        "targets": {name: {"deleted": t["deleted"], "held": t["held"], "status": t["status"],
                           **({"error": t["error"]} if t.get("error") else {})}
                    for name, t in targets.items()},
        "rows_deleted": sum(t["deleted"] for t in targets.values()),
        "rows_kept_under_holds": sum(t["held"] for t in targets.values()),
        "kept_under_holds": kept,
        "audit_key_destroyed": shredded,
        "consent_events": "kept as proof of consent and withdrawal (GDPR Art. 7(1), "
                          "Art. 17(3)(e)); their evidence fields are removed",
    }
    signature = keys.sign(document)
    failed = [name for name, t in targets.items() if t["status"] == "failed"]
    queue.finish(erasure, queue.FAILED if failed else queue.SUCCEEDED,
                 f"target(s) failed: {', '.join(failed)}" if failed else None)
    erasure.report = {**erasure.report, "targets": targets}
    erasure.certificate = {"document": document, "signature": signature}
    # Audit before forgetting the id: the entry carries the keyed reference only.
    append_entry(session, keys, "erasure.completed", actor=erasure.requested_by,
                 subject_id=subject_id, details={"erasure_id": erasure.id, "status": erasure.status,
                          "rows_deleted": document["rows_deleted"],
                          "rows_kept_under_holds": document["rows_kept_under_holds"],
                          "targets": document["targets"], "audit_key_destroyed": shredded})
    erasure.subject_id = None


def fail_erasure(session: Session, keys: SecretStore, erasure: Erasure, message: str) -> None:
    """Close an erasure that could not be carried out; audited. It may be requested again."""
    queue.finish(erasure, queue.FAILED, message)
    append_entry(session, keys, "erasure.failed", actor=erasure.requested_by,
                 subject_id=erasure.subject_id,
                 details={"erasure_id": erasure.id, "error": message})
    erasure.subject_id = None


def erasure_document(erasure: Erasure) -> dict[str, Any]:
    targets = erasure.report.get("targets", {})
    return {
        "erasure_id": erasure.id, "status": erasure.status, "subject_ref": erasure.subject_ref,
        "requested_by": erasure.requested_by, "reason": erasure.reason,
        "created_at": rfc3339(erasure.created_at),
        "started_at": rfc3339(erasure.started_at), "finished_at": rfc3339(erasure.finished_at),
        "targets": [{"name": name, **values} for name, values in targets.items()],
        "error": erasure.error, "certificate": erasure.certificate,
    }
