"""Wire the consent domain into the app: its stores of personal data."""

from __future__ import annotations

import functools
import os
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import delete, func, select, update

from consent import decisions
from consent.models import ConsentEvent, SubjectChange
from consentry import idempotency
from consentry.db import utcnow
from consentry.stores import BatchResult, Held, Store, purge_expired, register_store


def _keep_events(session, cutoffs, held: Held, limit: int, dry_run: bool) -> BatchResult:
    """Consent events are proof of consent (GDPR Art. 7(1)): no retention class deletes them."""
    return BatchResult(done=True)


def erase_evidence(session, subject_id: str, held: Held) -> BatchResult:
    """Erasure keeps the events as proof of consent and withdrawal but drops their evidence."""
    where = (ConsentEvent.subject_id == subject_id) & ConsentEvent.evidence.is_not(None)
    count = session.scalar(select(func.count()).select_from(ConsentEvent).where(where)) or 0
    if subject_id in held.subject_ids:
        return BatchResult(matched=count, held=count)
    session.execute(update(ConsentEvent).where(where).values(evidence=None))
    return BatchResult(matched=count, deleted=count,
                       notes=["consent events kept as proof of consent; evidence removed"])


def purge_changes(session, cutoffs, held: Held, limit: int, dry_run: bool) -> BatchResult:
    """The change feed names subjects: rows go after CHANGE_FEED_KEEP_DAYS. Engines need
    only recent changes (the client's cached answers expire after the policy's max_age)."""
    keep = timedelta(days=int(current_app.config["CHANGE_FEED_KEEP_DAYS"]))
    subject = SubjectChange.subject_id
    held_clause = subject.in_(held.subject_ids) if held.subject_ids else None
    return purge_expired(
        session, key=SubjectChange.seq, expired=SubjectChange.changed_at < utcnow() - keep,
        held=held_clause, order_by=SubjectChange.seq, limit=limit, dry_run=dry_run,
        delete=lambda seqs: session.execute(delete(SubjectChange)
                                            .where(SubjectChange.seq.in_(seqs))))


def erase_changes(session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: drop the subject's rows from the change feed."""
    where = SubjectChange.subject_id == subject_id
    count = session.scalar(select(func.count()).select_from(SubjectChange).where(where)) or 0
    if subject_id in held.subject_ids:
        return BatchResult(matched=count, held=count)
    session.execute(delete(SubjectChange).where(where))
    return BatchResult(matched=count, deleted=count)


def init_app(app: Flask) -> None:
    app.config.setdefault("CHANGE_FEED_KEEP_DAYS",
                          int(os.environ.get("CONSENTRY_CHANGE_FEED_KEEP_DAYS", 30)))
    register_store(app, Store(name="change_feed", purge=purge_changes, erase=erase_changes))
    register_store(app, Store(name="consent_evidence", purge=_keep_events, erase=erase_evidence))
    register_store(app, idempotency.STORE)
    decisions_class = app.extensions["consentry.policy"].decisions_class
    register_store(app, Store(
        name="decisions",
        purge=functools.partial(decisions.purge_decisions, decisions_class=decisions_class),
        erase=decisions.erase_decisions))
