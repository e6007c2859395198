"""Wire the consent domain into the app: its stores of personal data."""

from __future__ import annotations

import functools

from flask import Flask
from sqlalchemy import func, select, update

from consent import decisions
from consent.models import ConsentEvent
from consentry import idempotency
from consentry.stores import BatchResult, Held, Store, register_store


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


def init_app(app: Flask) -> None:
    register_store(app, Store(name="consent_evidence", purge=_keep_events, erase=erase_evidence))
    register_store(app, idempotency.STORE)
    decisions_class = app.extensions["consentry.policy"].decisions_class
    register_store(app, Store(
        name="decisions",
        purge=functools.partial(decisions.purge_decisions, decisions_class=decisions_class),
        erase=decisions.erase_decisions))
