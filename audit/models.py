"""Audit tables: the append-only entries, the chain head and per-subject keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base
from consentry.queue import QueuedWork


class AuditEntry(Base):
    """One audit entry. Rows are only ever inserted; the hash chain proves it."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entries_ts", "ts"),
        Index("ix_audit_entries_action_seq", "action", "seq"),
        Index("ix_audit_entries_subject_ref_seq", "subject_ref", "seq"),
    )


class AuditQueued(Base):
    """An entry appended but not yet sequenced: the sequencer (audit.service.integrate)
    gives it its seq and hash, moves it to `audit_entries` and deletes it here, in one
    transaction. Nothing of it depends on its seq: `ts`, `details` (personal fields
    already sealed) are hashed as they are.

    `changed_subject`: a subject whose change-feed row the sequencer writes with the
    entry's seq (a consent write that changed the subject's state), so the feed is in
    seq order and a reader never sees a later change before an earlier one.
    """

    __tablename__ = "audit_queue"

    # INTEGER on SQLite so it is the rowid (autoincrementing); BIGINT elsewhere.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]
    changed_subject: Mapped[str | None] = mapped_column(String(128))


class AuditHead(Base):
    """The single row holding the chain's last seq and hash; locked to append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))


class SubjectKey(Base):
    """A subject's data key for personal fields in audit details, wrapped by the master key.

    Destroying it (erasure) leaves the entries and every proof intact but unreadable.
    `destroyed_seq` is the chain's head seq when it was destroyed: an export that ends
    at a checkpoint of that size or more may have read the key before it went.
    """

    __tablename__ = "audit_subject_keys"

    subject_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    destroyed_at: Mapped[datetime | None]
    destroyed_seq: Mapped[int | None] = mapped_column(BigInteger)


class AuditCheckpoint(Base):
    """A signed tree head: the Merkle root of the first `tree_size` entries, at a time.

    `frontier` holds the compact range (one subtree root per set bit of the size) so the
    next checkpoint hashes only the entries appended since.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    kid: Mapped[str] = mapped_column(String(100))
    signature: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(20))
    frontier: Mapped[list[str]]


class AuditExport(Base):
    """An export bundle written to the export directory: who asked, why, and what it holds."""

    __tablename__ = "audit_exports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    exporter: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    since: Mapped[datetime | None]
    until: Mapped[datetime | None]
    subject_ref: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(10))
    # audit, or subject_access (one person's GDPR Art. 15 bundle)
    kind: Mapped[str] = mapped_column(String(20), server_default="audit")
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # what the verifier found when the bundle was built (`export.verification_summary`);
    # None for a bundle built before it was kept
    verification: Mapped[dict[str, Any] | None]


class AuditExportJob(QueuedWork, Base):
    """A queued export: the request, and the bundle (`export_id`) once the scheduler wrote it.

    `subject_id` (a filter) is kept only until the job runs; afterwards only the keyed
    `subject_ref` remains.
    """

    __tablename__ = "audit_export_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    since: Mapped[datetime | None]
    until: Mapped[datetime | None]
    subject_id: Mapped[str | None] = mapped_column(String(128))
    subject_ref: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20), server_default="audit")
    export_id: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_audit_export_jobs_status_created_at", "status", "created_at"),
    )


class PolicyState(Base):
    """The last policy (version and digest) this deployment loaded (one row), to audit
    changes."""

    __tablename__ = "policy_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime]
