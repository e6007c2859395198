"""What erasure clears in the retention domain: the subject's holds that no longer apply.

An active hold on the subject stops the erasure before any store is reached (see
retention.service); a hold lifted or ended keeps its row (its id is what certificates
and the audit log name) but no longer names the subject. Its reason was only ever
sealed under the subject's audit key, which the erasure has destroyed by then.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from consentry.clock import utcnow
from consentry.stores import BatchResult, Held, Store, erase_matching
from retention.models import LegalHold
from retention.service import active_condition


def keep_holds(session: Session, cutoffs, held: Held, limit: int, dry_run: bool) -> BatchResult:
    """Holds are legal records: no retention class deletes them."""
    return BatchResult(done=True)


def erase_holds(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: the subject's lifted or ended holds stop naming the subject."""
    return erase_matching(
        session, subject_id, held, key=LegalHold.id,
        where=(LegalHold.subject_id == subject_id) & ~active_condition(utcnow()),
        delete=lambda ids: session.execute(update(LegalHold).where(LegalHold.id.in_(ids))
                                           .values(subject_id=None)),
        notes=["lifted holds kept by id, without the subject"])


def retention_stores() -> list[Store]:
    """The retention domain's stores."""
    return [Store(name="legal_holds", purge=keep_holds, erase=erase_holds)]
