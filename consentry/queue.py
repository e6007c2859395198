"""Queued work: the one lifecycle of every long job (retention runs, erasures).

A request queues work and answers `202`; the scheduler process claims it with a
lease, beats its heart while it works, and finishes it. Work left `running` by a
process that died is abandoned (and resumed by its domain) by the next holder of
the runner lease. Work that cannot go on until something outside it changes (an
erasure under a legal hold) is set aside `held` with `wait`, and `requeue` puts it
back in the queue when that changes. Portable SQL: a conditional UPDATE claims, no
advisory locks.

    queued → running → succeeded | failed | abandoned
               ↓   ↑ requeue (its runner died)
              held → queued (requeue, when what it waits for is gone)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from consentry.clock import utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED, ABANDONED, HELD = (
    "queued", "running", "succeeded", "failed", "abandoned", "held")
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, ABANDONED, HELD)


class QueuedWork:
    """Columns every queued job has (mixed into its model)."""

    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    holder: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


def claim(session: Session, model: type[QueuedWork], holder: str,
          work_id: str | None = None):
    """Mark the oldest queued `model` (or `work_id`) running for `holder`; None if none."""
    query = select(model.id).where(model.status == QUEUED)
    if work_id is not None:
        query = query.where(model.id == work_id)
    candidate = session.scalar(query.order_by(model.created_at).limit(1))
    if candidate is None:
        return None
    now = utcnow()
    claimed = session.execute(
        update(model).where(model.id == candidate, model.status == QUEUED)
        .values(status=RUNNING, holder=holder, started_at=now, heartbeat_at=now)).rowcount
    return session.get(model, candidate, populate_existing=True) if claimed else None


def heartbeat(work: QueuedWork) -> None:
    """Show that the holder is still working on `work`."""
    work.heartbeat_at = utcnow()


def finish(work: QueuedWork, status: str, error: str | None = None) -> None:
    """Close `work` with `status` (succeeded, failed or abandoned)."""
    work.status = status
    work.error = error
    work.finished_at = utcnow()
    work.heartbeat_at = work.finished_at


def wait(work: QueuedWork) -> None:
    """Set running `work` aside, `held`, until what it waits for is gone (then `requeue`)."""
    work.status = HELD
    work.holder = None
    work.heartbeat_at = utcnow()


def requeue(work: QueuedWork) -> None:
    """Put running work back in the queue (its runner died; it must complete), or held
    work whose wait is over."""
    work.status = QUEUED


def left_running(session: Session, model: type[QueuedWork]) -> list:
    """Work still marked running: only the runner-lease holder asks, so its runner died."""
    return list(session.scalars(select(model).where(model.status == RUNNING)))
