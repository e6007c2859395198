"""Retention rules: classes and cutoffs, holds, runs and erasures.

Every function takes the caller's session and never commits: the request, the CLI
command or the scheduler job owns the transaction (see retention/runner.py).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.service import append_entry, destroy_subject_key, read_personal
from consentry import queue
from consentry.canonical import canonical_json
from consentry.clock import rfc3339, utcnow
from consentry.errors import Conflict, Invalid, NotFound
from consentry.pagination import decode_keyset, encode_keyset
from consentry.policy import Policy
from consentry.secretstore import SecretStore
from consentry.stores import Held
from retention.models import Erasure, LegalHold, RetentionRun
from retention.targets import safe_url
from webhooks import service as outbox

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
    """Place a legal hold on a subject or a category; audited.

    A subject hold's reason is kept only sealed in its audit entry (it may name the
    person, and goes with the subject's audit key); a category hold's is kept in clear.
    """
    if (subject_id is None) == (category is None):
        raise Invalid("give exactly one of subject_id or category",
                      fields={"subject_id": ["Give exactly one of subject_id or category."]})
    policy.check_ids(category=category)
    if not reason.strip():
        raise Invalid("a hold needs a reason", fields={"reason": ["Must not be blank."]})
    now = utcnow()
    if until is not None and until <= now:
        raise Invalid("until must be in the future", fields={"until": ["Must be in the future."]})
    hold_id = new_id()
    entry = append_entry(session, keys, "retention.hold.created", actor=actor,
                         subject_id=subject_id, sequence=True,  # the hold keeps its seq
                         details={"hold_id": hold_id, "category": category,
                                  "until": rfc3339(until),
                                  "by": "subject" if subject_id else "category"},
                         personal={"reason": reason} if subject_id else None)
    hold = LegalHold(id=hold_id, subject_id=subject_id, category=category,
                     reason=None if subject_id else reason,
                     audit_seq=entry.seq if subject_id else None,
                     until=until, created_by=actor, created_at=now)
    session.add(hold)
    return hold


def get_hold(session: Session, hold_id: str) -> LegalHold:
    """One hold by id; NotFound for an unknown one."""
    hold = session.get(LegalHold, hold_id) if len(hold_id) <= 32 else None
    if hold is None:
        raise NotFound(f"no hold {hold_id!r}")
    return hold


def lift_hold(session: Session, keys: SecretStore, hold_id: str, actor: str) -> LegalHold:
    """Lift a hold, and queue again the erasures it held; lifting one already lifted
    changes nothing. Audited."""
    hold = get_hold(session, hold_id)
    if hold.lifted_at is None:
        hold.lifted_at = utcnow()
        hold.lifted_by = actor
        append_entry(session, keys, "retention.hold.lifted", actor=actor,
                     subject_id=hold.subject_id,
                     details={"hold_id": hold.id, "category": hold.category})
        session.flush()
        release_erasures(session, keys, hold.lifted_at)
    return hold


def active_condition(now: datetime):
    """The condition 'this hold is in force at `now`' (not lifted, not past `until`)."""
    return and_(LegalHold.lifted_at.is_(None),
                or_(LegalHold.until.is_(None), LegalHold.until > now))


def list_holds(session: Session, limit: int, cursor: str | None, include_lifted: bool = False):
    """Holds, newest first; active ones only unless `include_lifted`."""
    query = select(LegalHold)
    if not include_lifted:
        query = query.where(active_condition(utcnow()))
    return _page(session, LegalHold, query, limit, cursor)


def active_holds(session: Session, now: datetime) -> list[LegalHold]:
    return list(session.scalars(select(LegalHold).where(active_condition(now))
                                .order_by(LegalHold.created_at)))


def subject_holds(session: Session, subject_id: str) -> list[LegalHold]:
    """Every hold naming the subject, active or not, oldest first. (An erasure leaves the
    lifted ones kept by id only: they no longer name anyone.)"""
    return list(session.scalars(select(LegalHold).where(LegalHold.subject_id == subject_id)
                                .order_by(LegalHold.created_at, LegalHold.id)))


def held_from(holds: list[LegalHold]) -> Held:
    """What the holds protect, as the store registry's `Held`."""
    return Held(subject_ids=frozenset(h.subject_id for h in holds if h.subject_id),
                categories=frozenset(h.category for h in holds if h.category))


def hold_reason(session: Session, keys: SecretStore, hold: LegalHold) -> str | None:
    """A hold's reason: a subject hold's opened from its audit entry, None once shredded."""
    if hold.audit_seq is None:
        return hold.reason
    try:
        personal = read_personal(session, keys, hold.audit_seq)
    except (InvalidTag, ValueError, KeyError):  # a damaged entry: the chain will say so
        return None
    return personal.get("reason") if personal else None


def hold_document(session: Session, keys: SecretStore, hold: LegalHold) -> dict[str, Any]:
    """A hold as the API shows it (to retention:admin)."""
    return {"id": hold.id, "subject_id": hold.subject_id, "category": hold.category,
            "reason": hold_reason(session, keys, hold), "until": rfc3339(hold.until),
            "created_by": hold.created_by, "created_at": rfc3339(hold.created_at),
            "lifted_at": rfc3339(hold.lifted_at),
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
#
# An erasure runs in passes. Each pass reads the active holds once. A subject under a
# hold is not touched at all, not even its audit key: the erasure is set aside `held`
# (consentry.queue.wait) until that hold lifts or ends. Otherwise the pass shreds the
# subject's audit key first, so no export written from then on can decrypt the
# subject's fields, then erases every own store and external target. Rows a category
# hold keeps leave the erasure `held` again, waiting for those holds. When a hold the
# erasure waits for is lifted (lift_hold) or has ended (release_erasures, each poll),
# the erasure is queued again and the next pass erases what is left. The certificate
# is signed when a pass leaves nothing kept; it names the holds that delayed it by id.

PENDING = (queue.QUEUED, queue.RUNNING, queue.HELD)


def queue_erasure(session: Session, keys: SecretStore, subject_id: str, actor: str,
                  reason: str | None = None) -> Erasure:
    """Queue the erasure of a subject (GDPR Art. 17), with why (a ticket reference); audited.

    The reason is kept with the erasure; in the audit entry it is sealed under the
    subject's key like other free text. A request while one is pending returns that one.
    """
    ref = keys.subject_ref(subject_id)
    pending = session.scalar(select(Erasure).where(
        Erasure.subject_ref == ref, Erasure.status.in_(PENDING)))
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


def subject_erasures(session: Session, keys: SecretStore, subject_id: str) -> list[Erasure]:
    """Every erasure of the subject, found by its keyed reference (a finished erasure no
    longer keeps the id), oldest first."""
    return list(session.scalars(select(Erasure)
                                .where(Erasure.subject_ref == keys.subject_ref(subject_id))
                                .order_by(Erasure.created_at, Erasure.id)))


def erased_subjects(session: Session, keys: SecretStore, subject_ids) -> set[str]:
    """Those of `subject_ids` with a completed erasure (found by their keyed references:
    a finished erasure no longer keeps the id). The import skips their records
    (`consent.imports.ERASED_SUBJECTS`, wired by app.py)."""
    refs = {keys.subject_ref(s): s for s in set(subject_ids)}
    if not refs:
        return set()
    return {refs[ref] for ref in session.scalars(
        select(Erasure.subject_ref).where(Erasure.subject_ref.in_(list(refs)),
                                          Erasure.status == queue.SUCCEEDED))}


def get_erasure(session: Session, erasure_id: str) -> Erasure:
    erasure = session.get(Erasure, erasure_id) if len(erasure_id) <= 32 else None
    if erasure is None:
        raise NotFound(f"no erasure {erasure_id!r}")
    return erasure


def start_erasure(session: Session, keys: SecretStore, erasure: Erasure,
                  holds: list[LegalHold]) -> bool:
    """Begin a pass: False (the erasure set aside, held) when a hold is on the subject;
    else shred the subject's audit key, before anything else, and return True."""
    if erasure.subject_id is None:
        raise Conflict("erasure already finished")
    on_subject = [h for h in holds if h.subject_id == erasure.subject_id]
    if on_subject:
        _wait_for_holds(session, keys, erasure, on_subject)
        return False
    shredded = destroy_subject_key(session, keys, erasure.subject_id)
    erasure.report = {**erasure.report,
                      "audit_key_destroyed": shredded or erasure.report.get(
                          "audit_key_destroyed", False)}
    return True


def _wait_for_holds(session: Session, keys: SecretStore, erasure: Erasure,
                    holds: list[LegalHold]) -> None:
    queue.wait(erasure)
    earlier = erasure.report.get("held_by", [])
    known = {h["hold_id"] for h in earlier}
    erasure.report = {**erasure.report, "waiting_for": [h.id for h in holds],
                      "held_by": earlier + [{"hold_id": h.id,
                                             "by": "subject" if h.subject_id else "category",
                                             "category": h.category}
                                            for h in holds if h.id not in known]}
    append_entry(session, keys, "erasure.held", actor=erasure.requested_by,
                 subject_id=erasure.subject_id,
                 details={"erasure_id": erasure.id, "hold_ids": [h.id for h in holds]})


def release_erasures(session: Session, keys: SecretStore, now: datetime) -> list[str]:
    """Queue again the held erasures one of whose holds has been lifted or has ended."""
    held = list(session.scalars(select(Erasure).where(Erasure.status == queue.HELD)))
    if not held:
        return []
    active = {h.id for h in active_holds(session, now)}
    released = []
    for erasure in held:
        waiting = erasure.report.get("waiting_for", [])
        gone = [h for h in waiting if h not in active]
        if waiting and not gone:
            continue
        queue.requeue(erasure)
        erasure.report = {**erasure.report, "waiting_for": []}
        released.append(erasure.id)
        append_entry(session, keys, "erasure.released", actor="scheduler",
                     subject_id=erasure.subject_id,
                     details={"erasure_id": erasure.id, "hold_ids": gone})
    return released


def erasures_after_lifting(session: Session, hold_id: str, now: datetime) -> list[dict[str, Any]]:
    """What lifting `hold_id` would do to the erasures waiting on it (the console's
    confirmation): each with `proceeds` (no other active hold on its subject) or the
    holds it would still wait for. Changes nothing."""
    others = {h.id: h for h in active_holds(session, now) if h.id != hold_id}
    waiting = [e for e in session.scalars(select(Erasure).where(Erasure.status == queue.HELD)
                                          .order_by(Erasure.created_at))
               if hold_id in e.report.get("waiting_for", [])]
    answer = []
    for erasure in waiting:
        still = sorted(h.id for h in others.values() if h.subject_id == erasure.subject_id)
        answer.append({**erasure_document(erasure), "subject_id": erasure.subject_id,
                       "proceeds": not still, "still_waiting_for": still})
    return answer


def finish_erasure(session: Session, keys: SecretStore, erasure: Erasure,
                   targets: dict[str, dict[str, Any]], holds: list[LegalHold],
                   policy: Policy) -> None:
    """End a pass: held again if holds kept rows; else sign the certificate, queue the
    `erasure.completed` notice to every recipient (GDPR Art. 17(2), 19) and forget the
    subject id. Audited."""
    if erasure.subject_id is None:
        raise Conflict("erasure already finished")
    subject_id = erasure.subject_id
    earlier = erasure.report.get("targets", {})
    for name, t in targets.items():  # rows deleted add up over the passes
        t["deleted"] += int(earlier.get(name, {}).get("deleted", 0))
    erasure.report = {**erasure.report, "targets": targets,
                      "passes": int(erasure.report.get("passes", 0)) + 1}
    keeping = [h for h in holds if h.category]
    if keeping and any(t["held"] for t in targets.values()):
        _wait_for_holds(session, keys, erasure, keeping)
        return
    now = utcnow()
    document = {
        "type": "consentry.erasure-certificate/v2",
        "erasure_id": erasure.id,
        "subject_ref": erasure.subject_ref,
        "requested_at": rfc3339(erasure.created_at),
        "completed_at": rfc3339(now),
        "targets": {name: {"kind": t.get("kind", "store"), "deleted": t["deleted"],
                           "status": t["status"],
                           **({"error": t["error"]} if t.get("error") else {})}
                    for name, t in targets.items()},
        "rows_deleted": sum(t["deleted"] for t in targets.values()),
        "held_by": erasure.report.get("held_by", []),
        "audit_key_destroyed": bool(erasure.report.get("audit_key_destroyed")),
        "consent_events": "kept as proof of consent and withdrawal (GDPR Art. 7(1), "
                          "Art. 17(3)(e)); their evidence fields are removed",
    }
    signature = keys.sign(document)
    failed = [name for name, t in targets.items() if t["status"] == "failed"]
    queue.finish(erasure, queue.FAILED if failed else queue.SUCCEEDED,
                 f"target(s) failed: {', '.join(failed)}" if failed else None)
    erasure.certificate = {"document": document, "signature": signature}
    # Audit before forgetting the id: the entry carries the keyed reference only.
    append_entry(session, keys, "erasure.completed", actor=erasure.requested_by,
                 subject_id=subject_id, details={"erasure_id": erasure.id, "status": erasure.status,
                          "rows_deleted": document["rows_deleted"],
                          "hold_ids": [h["hold_id"] for h in document["held_by"]],
                          "targets": document["targets"],
                          "audit_key_destroyed": document["audit_key_destroyed"]})
    if erasure.status == queue.SUCCEEDED:
        certificate_id = certificate_digest(document)
        outbox.emit(session, policy, outbox.ERASURE_COMPLETED, subject_id,
                    lambda _r: {"subject_id": subject_id, "erasure_id": erasure.id,
                                "certificate_id": certificate_id},
                    notice_ref=erasure.id, notify=list(policy.recipients), now=now)
    erasure.subject_id = None


def certificate_digest(document: dict[str, Any]) -> str:
    """The id of an erasure certificate: `sha256:` and the hex SHA-256 of its canonical
    JSON (RFC 8785), so a recipient can match the certificate it is later shown."""
    return "sha256:" + hashlib.sha256(canonical_json(document)).hexdigest()


def fail_erasure(session: Session, keys: SecretStore, erasure: Erasure, message: str) -> None:
    """Close an erasure that could not be carried out; audited. It may be requested again."""
    queue.finish(erasure, queue.FAILED, message)
    append_entry(session, keys, "erasure.failed", actor=erasure.requested_by,
                 subject_id=erasure.subject_id,
                 details={"erasure_id": erasure.id, "error": message})
    erasure.subject_id = None


def erasure_document(erasure: Erasure, session: Session | None = None) -> dict[str, Any]:
    """An erasure as the API shows it; with `session`, the recipients told of it."""
    targets = erasure.report.get("targets", {})
    document = {
        "erasure_id": erasure.id, "status": erasure.status, "subject_ref": erasure.subject_ref,
        "requested_by": erasure.requested_by, "reason": erasure.reason,
        "created_at": rfc3339(erasure.created_at),
        "started_at": rfc3339(erasure.started_at), "finished_at": rfc3339(erasure.finished_at),
        "targets": [{"name": name, **values} for name, values in targets.items()],
        "waiting_for_holds": erasure.report.get("waiting_for", [])
        if erasure.status == queue.HELD else [],
        "error": erasure.error, "certificate": erasure.certificate,
    }
    if session is not None:
        document["recipients_notified"] = [
            {**n, "first_sent_at": rfc3339(n["first_sent_at"]),
             "acknowledged_at": rfc3339(n["acknowledged_at"])}
            for n in outbox.notices_for(session, "erasure", erasure.id)]
    return document
