"""External retention targets: reflect the table, detect the timestamp form, delete in batches.

Nothing here commits on behalf of Consentry's own database: each batch is one short
transaction on the *target's* engine, so the target's own writers keep going.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    and_,
    case,
    cast,
    create_engine,
    delete,
    event,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchTableError

from consentry.policy import Policy, RetentionTarget
from consentry.stores import Held

# Epoch numbers above this are taken as milliseconds (1e11 s is the year 5138).
EPOCH_MS_THRESHOLD = 1e11


class TargetError(Exception):
    """A target that cannot be purged as declared; the message says why, for the report."""


# Query parameters whose names contain one of these carry secrets (password=, sslpassword=,
# api_key=, token=, ...) and are hidden like the password.
SECRET_QUERY_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "cred")


def safe_url(url: str) -> str:
    """Return `url` with any password hidden, in the user info or the query, for reports
    and logs."""
    try:
        parsed = make_url(url)
        query = {name: "***" if any(w in name.lower() for w in SECRET_QUERY_WORDS) else value
                 for name, value in parsed.query.items()}
        text = parsed.set(query=query).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported as such, never echoed with secrets
        return "(unparsable URL)"
    return text.replace("=%2A%2A%2A", "=***")


def open_engine(url: str) -> Engine:
    """Create an engine for a target database; connections are not pooled across runs."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise TargetError(f"invalid database URL: {exc}") from exc
    # One pooled connection, reused by every step of a target and disposed after it:
    # closing the last connection of a WAL database checkpoints it, so don't churn them.
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, pool_size=1, max_overflow=2,
                               connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        return engine
    return create_engine(parsed, pool_size=1, max_overflow=2)


def _sqlite_connect(dbapi_conn, _record) -> None:
    """In WAL mode, don't fsync each purge batch (synchronous=NORMAL, this connection only).

    A power cut can then undo only the last committed batches, never corrupt the file
    (SQLite's guarantee for WAL + NORMAL), and a purge is idempotent: the next run
    deletes those rows again. The journal mode itself is the target owner's to choose.
    """
    cur = dbapi_conn.cursor()
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@dataclass
class Prepared:
    """A reflected target, ready to be purged or erased."""

    target: RetentionTarget
    engine: Engine
    table: Table
    timestamp: Column
    subject: Column | None
    category: Column | None
    key: ColumnElement  # an integer key for range batches, else the key for LIMIT batches
    key_is_integer: bool
    form: str  # native | native_naive | text | epoch (SQLite mixes text and numbers)
    epoch_scale: float  # 1 for seconds, 1000 for milliseconds

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _column(table: Table, name: str | None, role: str) -> Column | None:
    if name is None:
        return None
    if name not in table.c:
        known = ", ".join(sorted(table.c.keys()))
        raise TargetError(f"{role} column {name!r} not found in table {table.name!r} "
                          f"(columns: {known})")
    return table.c[name]


def prepare(target: RetentionTarget, engine: Engine) -> Prepared:
    """Reflect `target`'s table and work out how to compare its timestamps and batch it."""
    schema, _, name = target.table.rpartition(".")
    try:
        table = Table(name, MetaData(), schema=schema or None, autoload_with=engine)
    except NoSuchTableError as exc:
        raise TargetError(f"table {target.table!r} not found at {safe_url(target.url)}") from exc
    timestamp = _column(table, target.timestamp_column, "timestamp")
    subject = _column(table, target.subject_column, "subject")
    category = _column(table, target.category_column, "category")
    assert timestamp is not None
    dialect = engine.dialect.name
    pk = list(table.primary_key.columns)
    if len(pk) == 1 and isinstance(pk[0].type, Integer):
        key, key_is_integer = pk[0], True
    elif dialect == "sqlite":
        key, key_is_integer = literal_column("rowid"), True
    elif len(pk) == 1:
        key, key_is_integer = pk[0], False
    elif dialect == "postgresql":
        key, key_is_integer = literal_column("ctid"), False
    else:
        raise TargetError(f"table {target.table!r} needs a single-column primary key")
    form, scale = _detect_form(engine, table, timestamp)
    return Prepared(target, engine, table, timestamp, subject, category, key, key_is_integer,
                    form, scale)


def _detect_form(engine: Engine, table: Table, column: Column) -> tuple[str, float]:
    """Return how `column` holds time: a native type, ISO 8601 text or Unix epoch numbers."""
    sample_query = select(column).where(column.is_not(None)).limit(50)
    if engine.dialect.name == "sqlite":
        # SQLite stores any type in any column: look at the values, not the declaration.
        with engine.connect() as conn:
            values = conn.execute(sample_query).scalars().all()
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        scale = 1000.0 if numbers and max(abs(v) for v in numbers) > EPOCH_MS_THRESHOLD else 1.0
        return "epoch" if numbers else "text", scale
    kind = column.type
    if isinstance(kind, DateTime | TIMESTAMP):
        return ("native" if getattr(kind, "timezone", False) else "native_naive"), 1.0
    if isinstance(kind, Date):
        return "native_naive", 1.0
    if isinstance(kind, Integer | Numeric | Float):
        with engine.connect() as conn:
            values = conn.execute(sample_query).scalars().all()
        big = values and max(abs(float(v)) for v in values) > EPOCH_MS_THRESHOLD
        return "epoch", 1000.0 if big else 1.0
    if isinstance(kind, String):
        if engine.dialect.name != "postgresql":
            raise TargetError(f"text timestamps are supported on SQLite and PostgreSQL, "
                              f"not {engine.dialect.name}")
        return "text", 1.0
    raise TargetError(f"timestamp column {column.name!r} has type {kind}, which is neither "
                      "a timestamp, text nor a number")


def older_than(p: Prepared, cutoff: datetime) -> ColumnElement[bool]:
    """The condition 'this row's timestamp is before `cutoff`' for the target's form."""
    cutoff = cutoff.astimezone(UTC)
    epoch = cutoff.timestamp() * p.epoch_scale
    col = p.timestamp
    if p.dialect == "sqlite":
        as_text = type_coerce(case(
            # ISO 8601 text more than a day either side of the cutoff is decided by its
            # date prefix alone (no zone offset moves a time by more than 14 hours), so
            # only rows near the cutoff pay for parsing; the '-' check keeps text that
            # is no date (an epoch number as text, say) from being taken as old.
            (col >= (cutoff.date() + timedelta(days=2)).isoformat(), literal_column("0")),
            (col < (cutoff.date() - timedelta(days=1)).isoformat(),
             col.op("GLOB", is_comparison=True)("????-*")),
            else_=func.julianday(col) < func.julianday(
                cutoff.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")),
        ), Boolean)
        if p.form != "epoch":
            return as_text
        return type_coerce(case((func.typeof(col).in_(("integer", "real")), col < epoch),
                                else_=as_text), Boolean)
    if p.form == "native":
        return col < cutoff
    if p.form == "native_naive":
        return col < cutoff.replace(tzinfo=None)
    if p.form == "epoch":
        return col < epoch
    # ISO 8601 text on PostgreSQL: the session time zone is UTC (see begin()), so text
    # without a zone is read as UTC and text with one is converted.
    return cast(col, TIMESTAMP(timezone=True)) < cutoff


def expired(p: Prepared, policy: Policy, cutoffs: dict[str, datetime]) -> ColumnElement[bool]:
    """The condition 'this row is past its retention class's cutoff'."""
    t = p.target
    if t.retention_class is not None:
        cutoff = cutoffs.get(t.retention_class)
        return older_than(p, cutoff) if cutoff is not None else false()
    assert p.category is not None
    clauses = []
    for rclass, cutoff in cutoffs.items():
        categories = sorted(c.id for c in policy.categories.values()
                            if c.retention_class == rclass)
        if categories and cutoff is not None:
            clauses.append(and_(p.category.in_(categories), older_than(p, cutoff)))
    return or_(*clauses) if clauses else false()


def held_condition(p: Prepared, held: Held) -> ColumnElement[bool] | None:
    """The condition 'a legal hold protects this row', or None when no hold applies."""
    clauses = []
    if p.subject is not None and held.subject_ids:
        clauses.append(p.subject.in_(sorted(held.subject_ids)))
    if p.category is not None and held.categories:
        clauses.append(p.category.in_(sorted(held.categories)))
    return or_(*clauses) if clauses else None


def not_held(p: Prepared, held: Held) -> ColumnElement[bool] | None:
    """The negation of held_condition that also keeps rows whose subject/category is NULL."""
    clauses = []
    if p.subject is not None and held.subject_ids:
        clauses.append(or_(p.subject.is_(None), p.subject.not_in(sorted(held.subject_ids))))
    if p.category is not None and held.categories:
        clauses.append(or_(p.category.is_(None), p.category.not_in(sorted(held.categories))))
    return and_(*clauses) if clauses else None


def _begin(p: Prepared):
    conn = p.engine.connect()
    tx = conn.begin()
    if p.dialect == "postgresql":
        conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    return conn, tx


def count(p: Prepared, condition: ColumnElement[bool]) -> int:
    """Count the target's rows matching `condition`."""
    conn, tx = _begin(p)
    try:
        return conn.execute(select(func.count()).select_from(p.table).where(condition)
                            ).scalar_one()
    finally:
        tx.rollback()
        conn.close()


@dataclass
class BatchStats:
    deleted: int = 0
    batches: int = 0
    longest_ms: float = 0.0


# Called after each committed batch with (rows deleted in it, seconds it took).
OnBatch = Callable[[int, float], None]


def delete_in_batches(p: Prepared, condition: ColumnElement[bool], *, max_rows: int,
                      target_seconds: float, on_batch: OnBatch | None = None,
                      keyset: bool = True) -> BatchStats:
    """Delete the rows matching `condition`, each transaction at most `max_rows` rows.

    With an integer key (primary key or SQLite rowid) the span from the first to the last
    matching key is walked in key ranges no wider than `max_rows` (a plain range DELETE,
    no keys fetched), and each next range starts at the next key that exists, so a gap
    between keys (1 and 10^15) costs one index lookup, not 10^11 empty ranges. The width
    adapts so a transaction takes about `target_seconds`. Otherwise (or with
    `keyset=False`) batches are `key IN (SELECT key ... LIMIT n)`.
    """
    stats = BatchStats()
    # One connection for the whole walk; every batch is its own short transaction.
    with p.engine.connect() as conn:
        if keyset and p.key_is_integer:
            with conn.begin():
                position, end = conn.execute(select(func.min(p.key), func.max(p.key))
                                             .select_from(p.table).where(condition)).one()
            width = max_rows
            while position is not None:
                stmt = delete(p.table).where(p.key >= position, p.key < position + width,
                                             condition)
                deleted, seconds = _timed_delete(p, conn, stmt)
                _record(stats, deleted, seconds, on_batch)
                after = position + width
                width = _adapt(width, seconds, max_rows, target_seconds)
                with conn.begin():
                    position = conn.execute(select(func.min(p.key)).select_from(p.table)
                                            .where(p.key >= after, p.key <= end)).scalar()
            return stats
        limit = max_rows
        while True:
            keys = select(p.key).select_from(p.table).where(condition).limit(limit)
            deleted, seconds = _timed_delete(p, conn, delete(p.table).where(p.key.in_(keys)))
            _record(stats, deleted, seconds, on_batch)
            if deleted < limit:
                return stats
            limit = _adapt(limit, seconds, max_rows, target_seconds)


def _timed_delete(p: Prepared, conn, stmt) -> tuple[int, float]:
    started = time.perf_counter()
    with conn.begin():
        if p.dialect == "postgresql":
            conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        deleted = conn.execute(stmt).rowcount
    return max(deleted, 0), time.perf_counter() - started


def _adapt(width: int, seconds: float, max_rows: int, target_seconds: float) -> int:
    """Shrink the next batch when this one ran long; grow it back when it ran short."""
    if seconds > target_seconds:
        return max(100, int(width * target_seconds / seconds * 0.8))
    if seconds < target_seconds / 2:
        return min(max_rows, width * 2)
    return width


def _record(stats: BatchStats, deleted: int, seconds: float, on_batch: OnBatch | None) -> None:
    stats.deleted += deleted
    stats.batches += 1
    stats.longest_ms = max(stats.longest_ms, seconds * 1000)
    if on_batch is not None:
        on_batch(deleted, seconds)
