"""Database engine, typed model base and the per-request / per-job transaction."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, request
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from consentry.errors import database_unavailable, handle_unexpected

# Whether the transaction about to begin will write. On SQLite a writer takes
# the write lock at BEGIN (BEGIN IMMEDIATE) so two writers queue on the busy
# timeout instead of failing when a read lock cannot be upgraded.
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every Consentry model."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON(none_as_null=True),
                           list[str]: JSON(none_as_null=True)}


def json_value(value):
    """A JSON column's value as `Database.fetch_all` returns it, decoded."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _json_dumps(value) -> str:
    return orjson.dumps(value).decode()


# orjson for JSON columns: several times faster than the json module both ways, which
# shows on the batch gate (1,000 states a call) and on audit exports.
JSON_CODEC = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


class BulkInsert:
    """`INSERT` of many rows into `table`, sent to the driver's `executemany` as it is.

    For the bulk paths (a batch of 1,000 decisions, an import's 1,000 records): through
    SQLAlchemy's execution layer, each value of each row passes its type's bind processor
    and the layer's own bookkeeping, which costs more than SQLite's insert itself. Here
    each row (a dict keyed by column name, values as the model's types take them) becomes
    a list in one generated function, converting only the columns whose type needs it,
    exactly as those types bind: a `UTCDateTime` as UTC (naive text on SQLite, in
    SQLAlchemy's `DATETIME` storage format), a JSON column as orjson text (PostgreSQL
    casts the untyped text to `json`). Strings, integers and booleans go as they are;
    a table with another type is refused when first used.

    Every row names every column but those `left_out` (an autoincremented key): no
    column default applies. `prepare` converts (it needs no connection, so it can run
    before a transaction takes a lock); a value set later goes at `position(name)`,
    converted by `json` for a JSON column; `send` inserts what was prepared; calling
    the object does both."""

    def __init__(self, table, left_out: tuple[str, ...] = ()):
        self.table = table
        self.columns = [c for c in table.columns if c.name not in left_out]
        self.names = [c.name for c in self.columns]
        self._plans: dict[str, tuple[str, Callable]] = {}

    def __call__(self, conn, rows: list[dict]) -> None:
        self.send(conn, self.prepare(conn.dialect, rows))

    def position(self, name: str) -> int:
        return self.names.index(name)

    @staticmethod
    def json(value) -> str | None:
        """A JSON column's value as `prepare` converts it."""
        return _json_text(value)

    def prepare(self, dialect, rows: list[dict]) -> list[list]:
        to_list = self._plan(dialect)[1]
        return [to_list(row) for row in rows]

    def send(self, conn, prepared: list[list]) -> None:
        if prepared:
            # tuples: SQLAlchemy passes a list of them on to `executemany` untouched
            conn.exec_driver_sql(self._plan(conn.dialect)[0], list(map(tuple, prepared)))

    def _plan(self, dialect) -> tuple[str, Callable]:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._build(dialect)
        return plan

    def _build(self, dialect) -> tuple[str, Callable]:
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise TypeError(f"BulkInsert: paramstyle {dialect.paramstyle!r}")
        converters = {"_sqlite_utc": _sqlite_utc, "_utc": _utc, "_json_text": _json_text}
        parts = []
        for column in self.columns:
            kind, key = column.type, repr(column.name)
            if isinstance(kind, UTCDateTime):
                parts.append(f"{'_sqlite_utc' if dialect.name == 'sqlite' else '_utc'}"
                             f"(row[{key}])")
            elif isinstance(kind, JSON) and kind.none_as_null:
                parts.append(f"_json_text(row[{key}])")
            elif type(kind) in (String, Integer, BigInteger, Boolean):
                parts.append(f"row[{key}]")
            else:
                raise TypeError(f"BulkInsert: {self.table.name}.{column.name} is {kind!r}")
        preparer = dialect.identifier_preparer
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO {preparer.format_table(self.table)} "
               f"({', '.join(preparer.quote(name) for name in self.names)}) "
               f"VALUES ({', '.join([mark] * len(parts))})")
        # One function of the table's columns, built once: a generic loop over columns
        # costs as much again as the conversions.
        exec(f"def to_list(row):\n    return [{', '.join(parts)}]\n",  # noqa: S102
             converters)  # the source is built above, from the table's column names
        return sql, converters["to_list"]


def utc_value(value) -> datetime | None:
    """A `UTCDateTime` column's value as the driver returned it (SQLite: text), aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _sqlite_utc(value: datetime | None) -> str | None:
    """As `UTCDateTime` then SQLite's `DATETIME` bind it: naive UTC, microseconds shown."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_text(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


ISOLATIONS = ("default", "serializable")
# SQLSTATEs a distributed (or SERIALIZABLE) engine answers when it wants the whole
# transaction retried: serialization failure, deadlock.
RETRYABLE_SQLSTATES = ("40001", "40P01")


def backoff(attempt: int) -> None:
    """Sleep before try `attempt + 1` of a transaction that failed to serialize: full
    jitter, exponential, capped, so writers that collided spread out."""
    time.sleep(random.uniform(0, min(0.25, 0.004 * 2 ** attempt)))


def is_retryable(exc: BaseException) -> bool:
    """Whether `exc` is a serialization failure the whole transaction may be retried on."""
    original = getattr(exc, "orig", None)
    return getattr(original, "sqlstate", None) in RETRYABLE_SQLSTATES


def is_connection_loss(exc: BaseException) -> bool:
    """Whether `exc` says the server went away or is no longer the primary (a failover),
    so that nothing more can be done on this connection."""
    if not isinstance(exc, DBAPIError) or is_retryable(exc):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if state:
        return state.startswith(("08", "57P01", "57P02", "57P03", "25006"))
    return isinstance(exc, OperationalError) and database_unavailable(exc) and \
        "database is locked" not in str(exc.orig).lower()


def database_url(url: str) -> URL:
    """`url` as SQLAlchemy takes it. A libpq multi-host URL
    (`postgresql+psycopg://u@h1:5433,h2:5434/db?target_session_attrs=read-write`), which
    SQLAlchemy cannot parse, becomes its `?host=h1:5433&host=h2:5434` form: libpq then
    tries the hosts in turn and keeps the first that takes writes."""
    scheme, sep, rest = url.partition("://")
    netloc = rest.split("/", 1)[0]
    hosts = netloc.rpartition("@")[2]
    if not sep or "," not in hosts:
        return make_url(url)
    userinfo = netloc[:len(netloc) - len(hosts)]
    path = rest[len(netloc):] or "/"
    parsed = make_url(f"{scheme}://{userinfo}{path}")
    listed = tuple(h for h in hosts.split(",") if h)
    if not listed or any(not h.rpartition(":")[0] and ":" in h for h in listed):
        raise ValueError(f"malformed host list {hosts!r}")
    return parsed.update_query_dict({"host": listed})


def make_engine(url: str, isolation: str = "default", prepare: bool = True) -> Engine:
    """Create the engine for `url` with the settings each backend needs.

    `isolation="serializable"` runs every transaction SERIALIZABLE, as a distributed
    PostgreSQL-compatible engine does (SQLite's single writer already is).
    `prepare=False` keeps psycopg from preparing statements on the server, which a
    connection pooler in transaction mode (PgBouncer) cannot carry across transactions.
    """
    if isolation not in ISOLATIONS:
        raise ValueError(f"unknown isolation {isolation!r} (known: {', '.join(ISOLATIONS)})")
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if parsed.database in (None, "", ":memory:"):
            engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30},
                                   hide_parameters=True, **JSON_CODEC)
        else:  # a small pool: connecting (and its PRAGMAs) per request costs more than a query
            engine = create_engine(url, pool_size=5, max_overflow=10,
                                   connect_args={"timeout": 30, "check_same_thread": False},
                                   hide_parameters=True, **JSON_CODEC)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_SECONDS * 1000)}")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            write = conn.get_execution_options().get("consentry_write")
            if write is None:
                write = write_intent.get()
            if write:
                _begin_immediate(conn)
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    options = {"isolation_level": "SERIALIZABLE"} if isolation == "serializable" else {}
    connect_args = {} if prepare else {"prepare_threshold": None}
    # pre_ping: a connection to a server that went away (a failover) is replaced
    # before the transaction uses it.
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10, **options,
                         connect_args=connect_args, hide_parameters=True, **JSON_CODEC)


# How long a writer waits for SQLite's write lock before its request fails (503), and
# how often it looks while it waits.
SQLITE_LOCK_WAIT_SECONDS = 30.0
SQLITE_LOCK_POLL_SECONDS = 0.0002
SQLITE_BUSY = 5


def _begin_immediate(conn) -> None:
    """Take SQLite's write lock (BEGIN IMMEDIATE), looking again every 0.2 ms while
    another writer holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between tries, so
    a writer queued behind one that holds the lock for 4 ms slept 8 ms or more, and two
    web workers left a core idle between them. Looking every 0.2 ms costs a few
    microseconds a look. Every other statement keeps the 30 s busy timeout.
    """
    raw = conn.connection.driver_connection
    # On the driver itself: a look through SQLAlchemy that fails costs tens of
    # microseconds of wrapping the error, taken from the writer that holds the lock.
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + SQLITE_LOCK_WAIT_SECONDS
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != SQLITE_BUSY or time.monotonic() > deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            time.sleep(SQLITE_LOCK_POLL_SECONDS)
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_SECONDS * 1000)}")


def transaction_notes(session: Session, name: str) -> dict:
    """A dict kept in `session.info` under `name` for the session's current transaction
    only: what one statement of the transaction read and a later step may use instead of
    reading it again. A new transaction (or the retry of one) starts with it empty."""
    transaction = session.get_transaction()
    kept = session.info.get(name)
    if kept is None or kept[0] is not transaction:
        kept = session.info[name] = (transaction, {})
    return kept[1]


# A session whose transaction asks for the `after_commit` callbacks (`call_after_commit`).
AFTER_COMMIT = "consentry.after_commit"


def call_after_commit(session: Session) -> None:
    """Ask for the database's `after_commit` callbacks once this transaction commits
    (nothing happens if it rolls back)."""
    session.info[AFTER_COMMIT] = True


class Database:
    """The engine and session factory of one app.

    `after_commit`: callbacks run after a transaction that asked for them
    (`call_after_commit`) committed, outside it; an error in one is logged, never
    raised, since what the caller wrote is already committed.
    """

    def __init__(self, url: str, isolation: str = "default", retry_attempts: int = 1,
                 prepare: bool = True):
        self.url = url
        self.retry_attempts = max(1, retry_attempts)
        self.retries = 0  # transactions run again after a serialization failure
        self.reconnects = 0  # requests run again on a new connection after a failover
        self.after_commit: list[Callable[[], None]] = []
        self.engine = make_engine(url, isolation, prepare)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(consentry_write=False), expire_on_commit=False)
        self._compiled: dict[Any, tuple[str, tuple | None]] = {}  # fetch_all's statements

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Session]:
        """Run a unit of work outside a request: commit on success, roll back on error."""
        token = write_intent.set(write)
        try:
            with self.sessions() as session:
                with session.begin():
                    yield session
                self.committed(session)
        finally:
            write_intent.reset(token)

    def run(self, work: Callable[[Session], Any], write: bool = True,
            attempts: int | None = None) -> Any:
        """`work(session)` in a transaction of its own (`transaction`), run again when it
        fails to serialize (SERIALIZABLE, or SQLite's busy lock), at most `attempts`
        times in all (default DB_RETRY_ATTEMPTS), with jittered backoff; its result.
        For the scheduler's small transactions (leases, a sequencer batch), which have
        no request to be run again by `run_request`."""
        attempts = attempts or self.retry_attempts
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction(write) as session:
                    return work(session)
            except Exception as exc:
                if not is_retryable(exc) or attempt >= attempts:
                    raise
                self.retries += 1
                backoff(attempt)
        raise AssertionError("unreachable")

    def fetch_all(self, statement, **params) -> list[tuple]:
        """The rows of a read-only `statement` (bind parameters by name) on a pooled DBAPI
        connection, outside SQLAlchemy's execution layer and any request transaction.

        For the hottest single-row reads (the gate's fast path): there that layer, with
        a session's begin and commit, costs several times the query. The statement is
        compiled once for this engine; values come back as the driver gives them (a JSON
        column is text on SQLite, decoded on PostgreSQL: see `json_value`).
        """
        compiled = self._compiled.get(statement)
        if compiled is None:
            done = statement.compile(dialect=self.engine.dialect)
            compiled = (str(done), done.positiontup if done.positional else None)
            self._compiled[statement] = compiled
        sql, order = compiled
        args = tuple(params[name] for name in order) if order is not None else params
        connection = self.engine.raw_connection()
        driver = connection.driver_connection
        # psycopg: one statement needs no BEGIN before it nor ROLLBACK after it (two round
        # trips); SQLite's connections already run without implicit transactions.
        autocommit = getattr(driver, "autocommit", None) is False
        try:
            if autocommit:
                driver.autocommit = True
            cursor = connection.cursor()
            try:
                cursor.execute(sql, args)
                return cursor.fetchall()
            finally:
                cursor.close()
                if autocommit:
                    driver.autocommit = False
        finally:
            connection.close()  # back to the pool

    def committed(self, session: Session) -> None:
        """`session` committed: run the `after_commit` callbacks if it asked for them."""
        if not session.info.pop(AFTER_COMMIT, False):
            return
        for callback in self.after_commit:
            try:
                callback()
            except Exception:  # the caller's work is committed; the callback's owner recovers
                logging.getLogger("consentry.db").exception("after-commit callback failed")

    def rolled_back(self, session: Session) -> None:
        """`session` rolled back: what it asked for after its commit is void."""
        session.info.pop(AFTER_COMMIT, None)


def init_app(app: Flask) -> None:
    """Attach the database to `app` and make each request one transaction.

    The transaction's one owner: the request's session begins on first use
    (`get_session`), commits when the response is a success, rolls back otherwise
    (an error response, an exception), and closes at the end of the request. A commit
    that fails turns the response into the error it is. Services never commit.
    """
    app.extensions["consentry.db"] = Database(app.config["DATABASE_URL"],
                                              app.config["DB_ISOLATION"],
                                              int(app.config["DB_RETRY_ATTEMPTS"]),
                                              bool(app.config["DB_PREPARED_STATEMENTS"]))

    @app.before_request
    def _declare_write_intent():
        g.write_token = write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))

    @app.after_request
    def _commit_or_roll_back(response):
        session = g.get("db_session")
        if session is None or not session.in_transaction():
            return response
        database = get_db()
        if response.status_code >= 400:
            session.rollback()
            database.rolled_back(session)
            return response
        try:
            session.commit()
        except Exception as exc:  # the write did not land: tell the client, not 200
            session.rollback()
            database.rolled_back(session)
            return handle_unexpected(exc)
        database.committed(session)
        return response

    @app.teardown_request
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
        token = g.pop("write_token", None)
        if token is not None:
            write_intent.reset(token)


def run_request(app: Flask, view: Callable[[], Any]) -> Response:
    """Run the request's view and commit its transaction; on a serialization failure roll
    back and run the view again, at most DB_RETRY_ATTEMPTS times in all. When the
    connection is lost (the primary went away), a read or a write with an
    `Idempotency-Key` runs once more on a new connection; anything else, and a second
    loss, is answered 503 with Retry-After (`errors.handle_unexpected`), never 500.

    The view is the whole request transaction, so running it again is exact: nothing of
    the failed attempt was committed. A commit that failed with the connection has an
    unknown outcome: only the Idempotency-Key's stored answer makes a rerun exact. An
    error response is returned as it is (rolled back after the request).
    """
    database = get_db(app)
    attempt, reconnected = 1, False
    while True:
        try:
            response = app.make_response(view())
            session = g.get("db_session")
            if session is not None and response.status_code < 400 and session.in_transaction():
                session.commit()
                database.committed(session)
            return response
        except Exception as exc:
            if is_connection_loss(exc) and not reconnected and _may_run_again():
                # The primary went away (a failover): drop every pooled connection, so
                # the next one reaches whichever server now takes writes, and run the
                # request once more. Only a read, or a write with an Idempotency-Key
                # (its stored answer, if the lost commit did land, is what it gets).
                reconnected = True
                _drop_session(database)
                database.engine.dispose()
                database.reconnects += 1
                continue
            if not is_retryable(exc) or attempt >= database.retry_attempts:
                raise
            session = g.get("db_session")
            if session is not None:
                session.rollback()
                database.rolled_back(session)
            database.retries += 1
            backoff(attempt)
            attempt += 1


def _may_run_again() -> bool:
    """A request whose view may run twice without writing twice."""
    return request.method in ("GET", "HEAD") or bool(request.headers.get("Idempotency-Key"))


def _drop_session(database: Database) -> None:
    """Forget the request's session after its connection died (its rollback may fail)."""
    session = g.pop("db_session", None)
    if session is None:
        return
    database.rolled_back(session)
    try:
        session.close()
    except DBAPIError:  # the connection is gone already; the pool invalidates it
        pass


def get_db(app: Flask | None = None) -> Database:
    """Return the app's Database."""
    return (app or current_app).extensions["consentry.db"]


def get_session() -> Session:
    """Return this request's session; the request commits it (see `init_app`)."""
    if "db_session" not in g:
        g.db_session = get_db().sessions()
    return g.db_session
