"""Export bundles as a store of personal data: they expire, and erasure removes them.

A bundle's CSV carries decrypted personal fields, so a bundle on disk would outlive a
crypto-shredded subject. Bundles are deleted after AUDIT_EXPORT_KEEP_DAYS, and an
erasure deletes every stored bundle that may hold the subject's entries (filtered to
that subject, or unfiltered and covering one of the subject's entries). The record
stays, marked expired: who exported what and why remains on file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from audit.models import AuditEntry, AuditExport
from audit.service import subject_ref
from consentry.db import utcnow
from consentry.stores import BatchResult, Held, Store, purge_expired

EXPIRED = "(expired)"


def _remove(record: AuditExport) -> None:
    Path(record.path).unlink(missing_ok=True)
    record.path = EXPIRED


def purge_exports(session: Session, cutoffs, held: Held, limit: int,
                  dry_run: bool) -> BatchResult:
    """Delete bundles older than AUDIT_EXPORT_KEEP_DAYS, except those of held subjects."""
    keep = timedelta(days=int(current_app.config["AUDIT_EXPORT_KEEP_DAYS"]))
    expired = (AuditExport.created_at < utcnow() - keep) & (AuditExport.path != EXPIRED)
    held_refs = [subject_ref(s) for s in held.subject_ids]
    held_clause = (AuditExport.subject_ref.is_not(None) & AuditExport.subject_ref.in_(held_refs)
                   if held_refs else None)

    def remove(ids: list[str]) -> None:
        for record in session.scalars(select(AuditExport).where(AuditExport.id.in_(ids))):
            _remove(record)

    return purge_expired(session, key=AuditExport.id, expired=expired, held=held_clause,
                         order_by=AuditExport.created_at, limit=limit, dry_run=dry_run,
                         delete=remove)


def erase_exports(session: Session, subject_id: str, held: Held) -> BatchResult:
    """Delete every stored bundle that may contain the subject's entries."""
    ref = subject_ref(subject_id)
    first_seq = session.scalar(select(func.min(AuditEntry.seq))
                               .where(AuditEntry.subject_ref == ref))
    if first_seq is None:
        return BatchResult()
    rows = session.scalars(select(AuditExport).where(
        AuditExport.path != EXPIRED, AuditExport.checkpoint_size >= first_seq,
        or_(AuditExport.subject_ref.is_(None), AuditExport.subject_ref == ref))).all()
    if subject_id in held.subject_ids:
        return BatchResult(matched=len(rows), held=len(rows))
    for record in rows:
        _remove(record)
    return BatchResult(matched=len(rows), deleted=len(rows),
                       notes=["copies downloaded before the erasure are outside the service"]
                       if rows else [])


STORE = Store(name="audit_exports", purge=purge_exports, erase=erase_exports)
