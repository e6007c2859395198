"""Leases in an ordinary row: one holder per job across every process and host.

Portable to PostgreSQL, SQLite and CockroachDB: `SELECT ... FOR UPDATE` on the lease
row, no advisory locks.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consentry.clock import utcnow
from consentry.models import Lease


def acquire(session: Session, name: str, holder: str, ttl_seconds: float) -> bool:
    """Take or renew the lease `name` for `holder`; False while another holds it."""
    now = utcnow()
    row = session.execute(select(Lease).where(Lease.name == name).with_for_update()
                          ).scalar_one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                session.add(Lease(name=name, holder=holder, acquired_at=now,
                                  expires_at=now + timedelta(seconds=ttl_seconds)))
            return True
        except IntegrityError:
            return False
    free = row.holder is None or row.expires_at is None or row.expires_at <= now
    if not free and row.holder != holder:
        return False
    if row.holder != holder or free:
        row.acquired_at = now
    row.holder = holder
    row.expires_at = now + timedelta(seconds=ttl_seconds)
    return True


def release(session: Session, name: str, holder: str) -> None:
    """Give the lease back, if `holder` still has it."""
    row = session.execute(select(Lease).where(Lease.name == name).with_for_update()
                          ).scalar_one_or_none()
    if row is not None and row.holder == holder:
        row.holder = None
        row.expires_at = None
