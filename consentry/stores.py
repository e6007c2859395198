"""The service's own stores of personal data, as retention and erasure see them.

Each domain declares its stores in its own `stores.py` and registers them with
`register_store`; retention purges and erases through these callables only, never
through another domain's tables, so the dependency stays one-way. Every store is
written with the two helpers below, so the batching and the hold rule live once:
`purge_expired` (one batch of expired rows) and `erase_matching` (one subject's rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Held:
    """What legal holds protect at the start of a run: subject ids and categories."""

    subject_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()


@dataclass
class BatchResult:
    """What one purge batch or one erasure did to a store."""

    matched: int = 0
    deleted: int = 0
    held: int = 0
    done: bool = True  # purge: no more expired rows after this batch
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Store:
    """A store of personal data the service keeps itself.

    `purge(session, cutoffs, held, limit, dry_run)` deletes (or, dry, counts) at most
    `limit` rows older than the cutoff of their retention class (`cutoffs` maps class →
    UTC datetime; a class kept for the account's lifetime is absent) and skips held rows.
    `erase(session, subject_id, held)` deletes (or scrubs) one subject's rows.
    """

    name: str
    purge: Callable[[Session, dict[str, datetime], Held, int, bool], BatchResult]
    erase: Callable[[Session, str, Held], BatchResult]


def register_store(app: Flask, store: Store) -> None:
    """Make `store` part of every retention run and erasure."""
    app.extensions.setdefault("consentry.stores", {})[store.name] = store


def registered_stores(app: Flask) -> dict[str, Store]:
    """The stores registered on `app`, by name."""
    return dict(app.extensions.get("consentry.stores", {}))


def held_clause(column, values: frozenset[str]):
    """A clause true for rows whose `column` is one of `values`, never NULL (None when there
    are no values)."""
    return (column.is_not(None) & column.in_(values)) if values else None


def purge_expired(session: Session, *, key, expired, held, order_by, limit: int,
                  dry_run: bool, delete: Callable[[list], None]) -> BatchResult:
    """One batch of a store's purge: delete up to `limit` rows that are `expired` and not
    `held` (through `delete(keys)`), or on a dry run count them all.

    `held` is a clause true for protected rows (or None); it must never be NULL for a row,
    since NOT NULL is NULL and the row would be silently kept. Held rows are reported once,
    with the batch that finishes the store.
    """
    held_count = 0
    query = select(key).where(expired)
    if held is not None:
        held_count = session.scalar(select(func.count()).where(expired, held)) or 0
        query = query.where(~held)
    if dry_run:
        matched = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        return BatchResult(matched=matched, held=held_count, done=True)
    keys = session.scalars(query.order_by(order_by).limit(limit)).all()
    if keys:
        delete(keys)
    done = len(keys) < limit
    return BatchResult(matched=len(keys), deleted=len(keys), held=held_count if done else 0,
                       done=done)


def erase_matching(session: Session, subject_id: str, held: Held, *, key, where,
                   delete: Callable[[list], None], held_by_category=None,
                   notes: list[str] | None = None) -> BatchResult:
    """Erase one subject's rows (`where`) through `delete(keys)`, except what holds keep.

    The hold rule, once for every store: a hold on the subject keeps all its rows; a
    hold on a category keeps the rows `held_by_category` (a clause) is true for.
    """
    keys = list(session.scalars(select(key).where(where)))
    if subject_id in held.subject_ids:
        return BatchResult(matched=len(keys), held=len(keys))
    kept: set = set()
    if keys and held_by_category is not None:
        kept = set(session.scalars(select(key).where(where, held_by_category)))
    gone = [k for k in keys if k not in kept]
    if gone:
        delete(gone)
    return BatchResult(matched=len(keys), deleted=len(gone), held=len(kept),
                       notes=list(notes or []) if gone else [])
