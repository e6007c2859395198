"""What retention may purge or erase in the consent domain: evidence, the change feed,
decisions, receipts and the current state. Consent events themselves are proof of
consent (GDPR Art. 7(1)) and stay, without their evidence.

Receipts are deleted on erasure, not kept as stubs: a receipt is the person's copy
of what they chose, signed so that it proves itself offline against the published
keys; the controller's proof is the events, which keep each receipt's `receipt_id`
and `event_id`s, so a receipt the person shows later is still matched to them. A
stub would keep nothing the events do not, and would name the subject.

The current state (`subject_states`) is a projection of the events used to answer
the gate. An erased subject is no longer processed on the strength of any grant, but
their refusals must still hold if their id comes back (fail closed: an erased person's
opt-out is not undone by forgetting it). So erasure keeps only the restrictive part of
the state, a suppression record: the switches that are on and the choices that deny or
withdraw, with the jurisdiction. Grants, their dates and everything else go; a state
with nothing restrictive is deleted. History and `?at=` still replay the kept events as
proof.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from consent.models import (
    ConsentEvent,
    Decision,
    DecisionSignal,
    Receipt,
    StateSnapshot,
    SubjectChange,
    SubjectState,
)
from consent.state import Choice, ConsentState
from consentry.clock import utcnow
from consentry.policy import Policy
from consentry.stores import (
    BatchResult,
    Held,
    Store,
    erase_matching,
    held_clause,
    purge_expired,
)


def keep_events(session: Session, cutoffs, held: Held, limit: int,
                dry_run: bool) -> BatchResult:
    """Consent events are proof of consent (GDPR Art. 7(1)): no retention class deletes them."""
    return BatchResult(done=True)


def erase_evidence(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure keeps the events as proof of consent and withdrawal but drops their evidence."""
    return erase_matching(
        session, subject_id, held, key=ConsentEvent.id,
        where=(ConsentEvent.subject_id == subject_id) & ConsentEvent.evidence.is_not(None),
        delete=lambda ids: session.execute(update(ConsentEvent).where(ConsentEvent.id.in_(ids))
                                           .values(evidence=None)),
        notes=["consent events kept as proof of consent; evidence removed"])


def keep_while_the_account_lives(session: Session, cutoffs, held: Held, limit: int,
                                 dry_run: bool) -> BatchResult:
    """Receipts, the current state and its snapshots go with the subject (erasure), not
    with a class."""
    return BatchResult(done=True)


def erase_receipts(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: delete the subject's stored receipts (the person holds the signed copy)."""
    return erase_matching(
        session, subject_id, held, key=Receipt.receipt_id,
        where=Receipt.subject_id == subject_id,
        delete=lambda ids: session.execute(delete(Receipt).where(Receipt.receipt_id.in_(ids))),
        notes=["receipts deleted; the events keep their receipt_id as proof"])


# A suppression record keeps no dates: when a refusal was made is history, not state.
SUPPRESSED_SINCE = datetime(1970, 1, 1, tzinfo=UTC)


def suppression(state: ConsentState) -> ConsentState:
    """The restrictive part of a state: what must still be honoured after an erasure."""
    return ConsentState(
        jurisdiction=state.jurisdiction,
        choices={key: Choice(c.status, SUPPRESSED_SINCE) for key, c in state.choices.items()
                 if c.status != "granted"},
        switches=dict.fromkeys(state.switches, SUPPRESSED_SINCE))


def _suppress(session: Session, subject_ids: list[str]) -> None:
    for row in session.scalars(select(SubjectState)
                               .where(SubjectState.subject_id.in_(subject_ids))):
        kept = suppression(ConsentState.from_json(row.state))
        if kept.choices or kept.switches:
            # updated_at moves: a decision judged at a moment before the erasure replays
            # the events rather than reading the suppression record.
            row.state, row.version, row.updated_at = kept.to_json(), row.version + 1, utcnow()
        else:
            session.delete(row)
    session.flush()


def erase_state(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: keep only the subject's refusals (a suppression record), drop the rest."""
    return erase_matching(
        session, subject_id, held, key=SubjectState.subject_id,
        where=SubjectState.subject_id == subject_id,
        delete=functools.partial(_suppress, session),
        notes=["refusals kept as a suppression record, so they still hold"])


def erase_snapshots(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: drop the subject's state snapshots (a replay then reads the kept events
    from the start)."""
    return erase_matching(
        session, subject_id, held, key=StateSnapshot.event_id,
        where=StateSnapshot.subject_id == subject_id,
        delete=lambda ids: session.execute(delete(StateSnapshot).where(
            StateSnapshot.subject_id == subject_id, StateSnapshot.event_id.in_(ids))))


def purge_changes(session: Session, cutoffs, held: Held, limit: int, dry_run: bool, *,
                  keep: timedelta) -> BatchResult:
    """The change feed names subjects: rows go after `keep`. Engines need only recent
    changes (the client's cached answers expire after the policy's max_age)."""
    return purge_expired(
        session, key=SubjectChange.seq, expired=SubjectChange.changed_at < utcnow() - keep,
        held=held_clause(SubjectChange.subject_id, held.subject_ids),
        order_by=SubjectChange.seq, limit=limit, dry_run=dry_run,
        delete=lambda seqs: session.execute(delete(SubjectChange)
                                            .where(SubjectChange.seq.in_(seqs))))


def erase_changes(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: drop the subject's rows from the change feed."""
    return erase_matching(
        session, subject_id, held, key=SubjectChange.seq,
        where=SubjectChange.subject_id == subject_id,
        delete=lambda seqs: session.execute(delete(SubjectChange)
                                            .where(SubjectChange.seq.in_(seqs))))


def _decisions_held_by_category(held: Held):
    if not held.categories:
        return None
    return Decision.decision_id.in_(select(DecisionSignal.decision_id).where(
        DecisionSignal.category.in_(held.categories)))


def _delete_decisions(session: Session, ids: list[str]) -> None:
    session.execute(delete(DecisionSignal).where(DecisionSignal.decision_id.in_(ids)))
    session.execute(delete(Decision).where(Decision.decision_id.in_(ids)))


def purge_decisions(session: Session, cutoffs: dict[str, datetime], held: Held, limit: int,
                    dry_run: bool, *, decisions_class: str) -> BatchResult:
    """Decisions are behavioral data: delete (or count) those older than their class's cutoff."""
    cutoff = cutoffs.get(decisions_class)
    if cutoff is None:
        return BatchResult(done=True)
    by_subject = held_clause(Decision.subject_id, held.subject_ids)
    by_category = _decisions_held_by_category(held)
    clauses = [c for c in (by_subject, by_category) if c is not None]
    protected = None
    if clauses:
        protected = clauses[0] if len(clauses) == 1 else clauses[0] | clauses[1]
    return purge_expired(session, key=Decision.decision_id, expired=Decision.decided_at < cutoff,
                         held=protected, order_by=Decision.decided_at, limit=limit,
                         dry_run=dry_run,
                         delete=functools.partial(_delete_decisions, session))


def erase_decisions(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: delete every decision about the subject, except what a hold protects."""
    return erase_matching(session, subject_id, held, key=Decision.decision_id,
                          where=Decision.subject_id == subject_id,
                          held_by_category=_decisions_held_by_category(held),
                          delete=functools.partial(_delete_decisions, session))


def consent_stores(config, policy: Policy) -> list[Store]:
    """The consent domain's stores, bound to the app's configuration and policy."""
    return [
        Store(name="change_feed", erase=erase_changes, purge=functools.partial(
            purge_changes, keep=timedelta(days=int(config["CHANGE_FEED_KEEP_DAYS"])))),
        Store(name="consent_evidence", purge=keep_events, erase=erase_evidence),
        Store(name="receipts", purge=keep_while_the_account_lives, erase=erase_receipts),
        Store(name="subject_states", purge=keep_while_the_account_lives, erase=erase_state),
        Store(name="state_snapshots", purge=keep_while_the_account_lives,
              erase=erase_snapshots),
        Store(name="decisions", erase=erase_decisions, purge=functools.partial(
            purge_decisions, decisions_class=policy.decisions_class)),
    ]
