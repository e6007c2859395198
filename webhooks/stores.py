"""What retention and erasure do to the webhooks domain's own data.

A delivery names its subject (the only personal datum of a payload). Erasure deletes
every delivery of the subject, sent or not: a consent change not yet sent is superseded
by the erasure notice, written after the stores are erased, which is the one delivery
that names an erased subject, deliberately: GDPR Art. 17(2) and 19 require telling each
recipient which subject to erase. Acknowledged deliveries go with the `behavioral`
retention class. Notices (legal's proof) name no subject and are kept.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from consentry.stores import BatchResult, Held, Store, erase_matching, purge_expired
from webhooks.models import WebhookDelivery
from webhooks.service import DELIVERED


def purge_deliveries(session: Session, cutoffs, held: Held, limit: int,
                     dry_run: bool) -> BatchResult:
    """Acknowledged deliveries older than the `behavioral` class's cutoff."""
    cutoff = cutoffs.get("behavioral")
    if cutoff is None:
        return BatchResult(done=True)
    return purge_expired(
        session, key=WebhookDelivery.id,
        expired=(WebhookDelivery.status == DELIVERED) & (WebhookDelivery.created_at < cutoff),
        held=None, order_by=WebhookDelivery.id, limit=limit, dry_run=dry_run,
        delete=lambda ids: session.execute(delete(WebhookDelivery)
                                           .where(WebhookDelivery.id.in_(ids))))


def erase_deliveries(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Erasure: every delivery naming the subject goes."""
    return erase_matching(
        session, subject_id, held, key=WebhookDelivery.id,
        where=WebhookDelivery.subject_id == subject_id,
        delete=lambda ids: session.execute(delete(WebhookDelivery)
                                           .where(WebhookDelivery.id.in_(ids))),
        notes=["the erasure notice to recipients is written after this (Art. 17(2), 19)"])


def webhook_stores() -> list[Store]:
    """The webhooks domain's stores."""
    return [Store(name="webhook_deliveries", purge=purge_deliveries, erase=erase_deliveries)]
