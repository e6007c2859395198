"""Retention tables: runs (with per-target progress), legal holds and erasures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base
from consentry.queue import QueuedWork


class RetentionRun(QueuedWork, Base):
    """One purge over every (or some) targets; `report` is its per-target progress."""

    __tablename__ = "retention_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    trigger: Mapped[str] = mapped_column(String(16))  # api | cli | schedule | resume
    requested_by: Mapped[str] = mapped_column(String(100))
    targets: Mapped[list[str] | None]  # None: every target
    # The slot of a scheduled purge (its fire time): unique, so a slot runs once.
    scheduled_for: Mapped[datetime | None] = mapped_column(unique=True)
    resumes: Mapped[str | None] = mapped_column(String(32))
    cutoffs: Mapped[dict[str, Any]]
    report: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_retention_runs_status_created_at", "status", "created_at"),
        Index("ix_retention_runs_created_at_id", "created_at", "id"),
    )


class LegalHold(Base):
    """A legal hold on one subject's data or one category: purges and erasures skip it.

    A subject hold's reason (free text that may name the person) is not stored here:
    it is sealed under the subject's audit key in the `retention.hold.created` entry
    `audit_seq`, and goes when the subject is erased. A category hold's is in `reason`.
    """

    __tablename__ = "retention_holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(128), index=True)
    category: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)
    until: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_retention_holds_created_at_id", "created_at", "id"),)


class Erasure(QueuedWork, Base):
    """A subject's erasure request (GDPR Art. 17), its outcome and signed certificate.

    `subject_id` is kept only until the erasure is carried out; afterwards only the
    keyed `subject_ref` remains. A held erasure keeps it until its holds lift and the
    rest is erased (`report` says which holds it waits for).
    """

    __tablename__ = "retention_erasures"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(128))
    subject_ref: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))  # why, or a ticket reference
    report: Mapped[dict[str, Any]]
    certificate: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_retention_erasures_status_created_at", "status", "created_at"),
                      Index("ix_retention_erasures_created_at_id", "created_at", "id"))
