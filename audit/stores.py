"""What retention may purge or erase in the audit domain: export bundles.

A bundle's CSV carries decrypted personal fields, so a bundle on disk would outlive a
crypto-shredded subject. Bundles are deleted after AUDIT_EXPORT_KEEP_DAYS, and an
erasure deletes every stored bundle that may hold the subject's entries (filtered to
that subject, or unfiltered and covering one of the subject's entries) and every subject
access bundle of the subject, and fails the
queued exports filtered to that subject (dropping its id). The record stays, its path
marked `(expired)` or `(erased)`: who exported what and why remains on file, and a
download says which of the two removed the bundle (410 Gone).

The entries themselves are never deleted: erasure crypto-shreds their personal fields.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from audit import export_jobs
from audit.export import ERASED, EXPIRED, GONE, SUBJECT_ACCESS
from audit.models import AuditEntry, AuditExport
from consentry.clock import utcnow
from consentry.secretstore import SecretStore
from consentry.stores import BatchResult, Held, Store, erase_matching, held_clause, purge_expired


def _remove_bundles(session: Session, ids: list[str], marker: str) -> None:
    """Delete the bundles' files; mark their records with why (`marker`)."""
    for record in session.scalars(select(AuditExport).where(AuditExport.id.in_(ids))):
        Path(record.path).unlink(missing_ok=True)
        record.path = marker


def purge_exports(session: Session, cutoffs, held: Held, limit: int, dry_run: bool, *,
                  keys: SecretStore, keep: timedelta) -> BatchResult:
    """Delete bundles older than `keep`, except those of held subjects."""
    expired = (AuditExport.created_at < utcnow() - keep) & AuditExport.path.not_in(GONE)
    held_refs = frozenset(keys.subject_ref(s) for s in held.subject_ids)
    return purge_expired(session, key=AuditExport.id, expired=expired,
                         held=held_clause(AuditExport.subject_ref, held_refs),
                         order_by=AuditExport.created_at, limit=limit, dry_run=dry_run,
                         delete=functools.partial(_remove_bundles, session, marker=EXPIRED))


def erase_exports(session: Session, subject_id: str, held: Held, *,
                  keys: SecretStore) -> BatchResult:
    """Delete every stored bundle that may contain the subject's entries."""
    ref = keys.subject_ref(subject_id)
    export_jobs.forget_subject(session, ref)  # queued exports filtered to the subject
    first_seq = session.scalar(select(func.min(AuditEntry.seq))
                               .where(AuditEntry.subject_ref == ref))
    # A subject access bundle holds the person's receipts and decisions as well: it goes
    # even when they had no audit entries.
    holds_them = AuditExport.kind == SUBJECT_ACCESS
    if first_seq is not None:
        holds_them |= (AuditExport.checkpoint_size >= first_seq)
    return erase_matching(
        session, subject_id, held, key=AuditExport.id,
        where=AuditExport.path.not_in(GONE) & holds_them
        & or_(AuditExport.subject_ref.is_(None), AuditExport.subject_ref == ref),
        delete=functools.partial(_remove_bundles, session, marker=ERASED),
        notes=["copies downloaded before the erasure are outside the service"])


def audit_stores(config, keys: SecretStore) -> list[Store]:
    """The audit domain's stores, bound to the app's configuration and keys."""
    return [Store(name="audit_exports",
                  purge=functools.partial(
                      purge_exports, keys=keys,
                      keep=timedelta(days=int(config["AUDIT_EXPORT_KEEP_DAYS"]))),
                  erase=functools.partial(erase_exports, keys=keys))]
