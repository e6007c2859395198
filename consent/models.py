"""Consent models: the append-only ledger, the current state kept beside it, receipts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base


class ConsentEvent(Base):
    """One recorded choice or switch. Inserted, never updated (erasure scrubs evidence)."""

    __tablename__ = "consent_events"

    # INTEGER on SQLite so it is the rowid (autoincrementing); BIGINT elsewhere.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # choice | switch
    purpose: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    switch: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    notice_version: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any] | None]
    receipt_id: Mapped[str | None] = mapped_column(String(36))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime]  # when the service received it
    # When the choice was made: what state and `?at=` order by, with `id` breaking ties.
    # A live write makes it then (the default copies received_at); an imported record
    # keeps its own time (consent/imports.py).
    occurred_at: Mapped[datetime] = mapped_column(default=lambda context: (
        context.get_current_parameters()["received_at"]))

    __table_args__ = (Index("ix_consent_events_subject_id_id", "subject_id", "id"),
                      Index("ix_consent_events_subject_id_occurred_at_id", "subject_id",
                            "occurred_at", "id"))


class SubjectState(Base):
    """A subject's effective choices: always equal to folding their events."""

    __tablename__ = "subject_states"

    subject_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[dict[str, Any]]
    version: Mapped[int]
    updated_at: Mapped[datetime]  # the latest occurred_at among the subject's events


class Receipt(Base):
    """A signed consent receipt, as handed to the preference center."""

    __tablename__ = "consent_receipts"

    receipt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(128), index=True)
    issued_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]
    signature: Mapped[dict[str, Any]]


class StateSnapshot(Base):
    """A subject's state as of one of its events, so `?at=` replays from near the moment.

    Taken every STATE_SNAPSHOT_EVERY writes of a subject: `state` is the fold of its
    events up to and including the position (`taken_at`, `event_id`) — events order by
    (occurred_at, id), and `taken_at` is the occurred_at of the event `event_id`, the
    last of that write. An import of an earlier record drops the snapshots after it.
    """

    __tablename__ = "subject_state_snapshots"

    subject_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                          primary_key=True, autoincrement=False)
    taken_at: Mapped[datetime]
    state: Mapped[dict[str, Any]]


class SubjectChange(Base):
    """The change feed: one row per write that changed a subject's state.

    `seq` is the audit seq of the write. The audit sequencer writes the row when it
    integrates the write's entry (ledger._feed_changes), a batch in one transaction
    under the chain head's lock, so seq grows in commit order and a reader never sees
    a later seq before an earlier one.
    """

    __tablename__ = "subject_changes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    subject_id: Mapped[str] = mapped_column(String(128), index=True)
    changed_at: Mapped[datetime]


class Decision(Base):
    """What an engine showed a person and which signals drove it."""

    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(128))
    surface: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(64))
    item: Mapped[dict[str, Any]]
    signals_used: Mapped[list[dict[str, Any]]] = mapped_column(JSON(none_as_null=True))
    rule: Mapped[dict[str, Any] | None]
    decided_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime]
    conformant: Mapped[bool]
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JSON(none_as_null=True))
    policy_version: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(100))
    # the recipe (and its version at the time) the engine cited, if any
    recipe_id: Mapped[str | None] = mapped_column(String(100))
    recipe_version: Mapped[int | None]

    __table_args__ = (Index("ix_decisions_subject_id_decided_at", "subject_id", "decided_at"),)


class DecisionSignal(Base):
    """One category a decision used: lets the transparency report aggregate in SQL."""

    __tablename__ = "decision_signals"

    decision_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("decisions.decision_id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    surface: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime]

    __table_args__ = (Index("ix_decision_signals_decided_at_surface", "decided_at", "surface"),)


class DecisionCategoryDay(Base):
    """Per day and category: how many decisions used it, how many of those were violations,
    and when it was last used. Holds no subject, so it outlives the decisions (the
    minimization report answers for a year; decisions are kept 90 days)."""

    __tablename__ = "decision_category_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    decisions: Mapped[int]
    violations: Mapped[int]
    last_used_at: Mapped[datetime]


class Notice(Base):
    """One version of a privacy notice, as recorded; never updated. `id` orders the
    versions: a version recorded later is newer."""

    __tablename__ = "notices"

    # INTEGER on SQLite so it is the rowid (autoincrementing); BIGINT elsewhere.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    notice_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(31))
    url: Mapped[str] = mapped_column(String(2048))
    sha256: Mapped[str] = mapped_column(String(64))
    material: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("notice_id", "version"),)
