"""What retention and erasure do to the governance domain's own data.

Recipes name no one and are kept. A privacy request is the legal record of how a
person's request was answered (the erasure's own, too), so erasure keeps its row, dates,
statuses, actors and subject id; what the person or staff wrote (the note, each step's
reason) goes. The audit entries' copies of that text were sealed under the subject's
key, which the erasure destroys before it reaches any store.
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from consentry.stores import BatchResult, Held, Store, erase_matching
from governance.models import PrivacyRequest, RequestTransition


def keep_requests(session: Session, cutoffs, held: Held, limit: int, dry_run: bool) -> BatchResult:
    """Requests are legal records: no retention class deletes them."""
    return BatchResult(done=True)


def erase_requests(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: the subject's requests keep their record but lose their free text."""
    def clear(request_ids: list) -> None:
        session.execute(update(PrivacyRequest).where(PrivacyRequest.id.in_(request_ids))
                        .values(note=None))
        session.execute(update(RequestTransition)
                        .where(RequestTransition.request_id.in_(request_ids))
                        .values(reason=None))

    return erase_matching(
        session, subject_id, held, key=PrivacyRequest.id,
        where=(PrivacyRequest.subject_id == subject_id) & or_(
            PrivacyRequest.note.is_not(None),
            PrivacyRequest.id.in_(select(RequestTransition.request_id)
                                  .where(RequestTransition.reason.is_not(None)))),
        delete=clear, notes=["requests kept as the record of their answer, without their "
                             "note and reasons"])


def governance_stores() -> list[Store]:
    """The governance domain's stores."""
    return [Store(name="privacy_requests", purge=keep_requests, erase=erase_requests)]
