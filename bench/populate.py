"""A ledger of many subjects and events for the lookup benches, filled in bulk, cached.

    ledger_store(database_url, subjects, events_per_subject=10) -> LedgerStore

Fills a freshly migrated database directly in the tables' shape, as the ledger would
have left them after `events_per_subject` consent writes of one event each per subject:

- `consent_events`: the events, written round by round (every subject's first write,
  then every subject's second ...), so a subject's events lie spread over the table as
  they would after months of traffic;
- `subject_states`: each subject's state, equal to the fold of its events (consent/state.py),
  `version` its number of writes, `updated_at` its latest `occurred_at`;
- `subject_state_snapshots`: one at every SNAPSHOT_EVERY-th write, as `ledger._write`
  takes them (none for 10 writes a subject: SNAPSHOT_EVERY is 50);
- `subject_changes`: one row per write that changed the state, `seq` in write order.

Receipt ids are set on the events, but receipts and audit entries are not stored: neither
lookup reads them. Subjects are `s0` .. `s<n-1>`, as bench/signal_gate.py names them;
each follows one of PATTERNS event sequences (folded once each), so filling costs the
inserts and not a fold per subject.

Fast: SQLite in one transaction (rollback journal during the fill, WAL again after),
PostgreSQL with COPY; the secondary indexes of the filled tables are dropped before and
created again after, from their own definitions. The result is cached under var/bench/
(the SQLite file, the secrets and the key; on PostgreSQL a schema named after it), keyed
by the size, FILL_VERSION and the migrations, so a second run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.harness import ROOT, prepare_database
from bench.signal_gate import CATEGORIES
from consent.ledger import SNAPSHOT_EVERY
from consent.models import ConsentEvent, StateSnapshot, SubjectChange, SubjectState
from consent.state import ConsentState as State
from consent.state import Event, apply

CACHE = ROOT / "var" / "bench"
FILL_VERSION = 1  # bump when the fill below changes what it writes
PATTERNS = 512
T0 = datetime(2024, 1, 1, tzinfo=UTC)
PURPOSES = ("personalization", "marketing", "advertising", "analytics")
CHANNELS = (None, None, "web", "email", "app")
STATUSES = ("granted", "granted", "denied", "withdrawn")
JURISDICTIONS = ("EU", "US-CA", "DEFAULT")
SWITCHES = ("personalization_off", "sale_sharing_opt_out")
CHUNK = 50_000


@dataclass
class LedgerStore:
    url: str
    env: dict
    key: str
    subjects: int
    events: int
    fill_seconds: float
    reused: bool


def _fingerprint() -> str:
    digest = hashlib.sha256(str(FILL_VERSION).encode())
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def ledger_store(database_url: str | None, subjects: int,
                 events_per_subject: int = 10) -> LedgerStore:
    """The cached store of `subjects` with `events_per_subject` events each (SQLite when
    `database_url` is None), filled first if the cache lacks it or is stale."""
    engine = "postgresql" if database_url else "sqlite"
    name = f"ledger-{engine}-{subjects}x{events_per_subject}"
    workdir = CACHE / name
    meta_path = workdir / "store.json"
    fingerprint = _fingerprint()
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["fingerprint"] == fingerprint and meta["base_url"] == database_url:
            return LedgerStore(meta["url"], meta["env"], meta["key"], subjects,
                               subjects * events_per_subject, meta["fill_seconds"], True)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    schema = name.replace("-", "_") if database_url else None
    url, env, key = prepare_database(database_url, workdir, schema)
    started = time.perf_counter()
    fill_ledger(url, subjects, events_per_subject)
    fill_seconds = time.perf_counter() - started
    # Written last: a fill cut short leaves no store.json and is done again next time.
    meta_path.write_text(json.dumps({"fingerprint": fingerprint, "base_url": database_url,
                                     "url": url, "env": env, "key": key,
                                     "fill_seconds": fill_seconds}))
    return LedgerStore(url, env, key, subjects, subjects * events_per_subject, fill_seconds,
                       False)


def _pattern(p: int, writes: int) -> dict:
    """Pattern `p`: its event per write (the varying columns), the state after each write,
    and whether each write changed the state."""
    rng = random.Random(p)
    jurisdiction = JURISDICTIONS[p % 3]
    state, states, changed, events = None, [], [], []
    for k in range(writes):
        at = T0 + timedelta(days=30 * k, seconds=p)
        if rng.random() < 0.1:
            event = {"kind": "switch", "switch": rng.choice(SWITCHES), "purpose": None,
                     "category": None, "channel": None, "status": rng.choice(("on", "off"))}
        else:
            purpose = rng.choice(PURPOSES)
            event = {"kind": "choice", "switch": None, "purpose": purpose,
                     "category": rng.choice((None, None, *CATEGORIES)),
                     "channel": rng.choice(CHANNELS), "status": rng.choice(STATUSES)}
        event.update(jurisdiction=jurisdiction, source="preference_center", received_at=at,
                     occurred_at=at)
        new = apply(state or State(), Event(
            kind=event["kind"], received_at=at, jurisdiction=jurisdiction,
            purpose=event["purpose"], category=event["category"], channel=event["channel"],
            status=event["status"], switch=event["switch"], source=event["source"]))
        changed.append(state is None or new.to_json() != state.to_json())
        state = new
        states.append(new.to_json())
        events.append(event)
    return {"events": events, "states": states, "changed": changed}


class _Table:
    """Bulk rows into one table: bind values processed as SQLAlchemy would (so the stored
    form is the app's), then executemany on SQLite or COPY on PostgreSQL."""

    def __init__(self, raw, dialect, model, columns: list[str]):
        self.raw, self.dialect, self.columns = raw, dialect, columns
        self.table = model.__table__
        types = [self.table.c[c].type for c in columns]
        self.processors = [t._cached_bind_processor(dialect) for t in types]
        self.name = self.table.name

    def process(self, values: dict) -> dict:
        """Bind-process the named values once (the constant part of many rows)."""
        out = {}
        for column, processor in zip(self.columns, self.processors, strict=True):
            if column in values:
                value = values[column]
                out[column] = processor(value) if processor and value is not None else value
        return out

    def insert(self, rows) -> None:
        """`rows`: tuples in `columns` order, already processed."""
        cols = ", ".join(self.columns)
        cursor = self.raw.cursor()
        if self.dialect.name == "sqlite":
            sql = f"INSERT INTO {self.name} ({cols}) VALUES ({', '.join('?' * len(self.columns))})"
            chunk = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == CHUNK:
                    cursor.executemany(sql, chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
        else:
            with cursor.copy(f"COPY {self.name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cursor.close()


def _secondary_indexes(conn, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that no constraint owns."""
    if conn.dialect.name == "sqlite":
        return [tuple(r) for r in conn.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
            "AND sql IS NOT NULL"), {"t": table})]
    return [tuple(r) for r in conn.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = :t "
        "AND schemaname = current_schema() AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"), {"t": table})]


def fill_ledger(url: str, subjects: int, writes: int) -> None:
    """Fill the (empty, migrated) database at `url`; see the module's docstring."""
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    tables = [m.__table__.name for m in (ConsentEvent, SubjectState, StateSnapshot,
                                         SubjectChange)]
    with engine.begin() as conn:
        indexes = [i for t in tables for i in _secondary_indexes(conn, t)]
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
    if sqlite:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    patterns = [_pattern(p, writes) for p in range(PATTERNS)]
    # Subjects in the text order of their ids: the primary keys fill front to back.
    order = sorted(range(subjects), key=str)
    raw = engine.raw_connection()
    try:
        if sqlite:
            raw.driver_connection.execute("PRAGMA cache_size=-262144")
        _fill(raw, engine.dialect, patterns, order, writes)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        for _, definition in indexes:
            conn.execute(text(definition))
        if not sqlite:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('consent_events', 'id'), "
                              "(SELECT max(id) FROM consent_events))"))
            for table in tables:
                conn.execute(text(f"ANALYZE {table}"))
    if sqlite:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    engine.dispose()


def _fill(raw, dialect, patterns: list[dict], order: list[int], writes: int) -> None:
    n = len(order)
    events = _Table(raw, dialect, ConsentEvent, [
        "id", "event_id", "subject_id", "receipt_id", "kind", "purpose", "category", "channel",
        "switch", "status", "jurisdiction", "source", "notice_version", "evidence",
        "idempotency_key", "actor", "received_at", "occurred_at"])
    constant = [[tuple(events.process({**e, "notice_version": "v1", "evidence": None,
                                       "idempotency_key": None, "actor": "bench"})[c]
                       for c in events.columns[4:])
                 for e in p["events"]] for p in patterns]

    def event_id(k: int, position: int) -> int:
        return k * n + position + 1  # the write's (one) event's id: rounds in order

    def event_rows():
        for k in range(writes):
            for position, i in enumerate(order):
                eid = event_id(k, position)
                yield (eid, f"00000000-0000-4000-8000-{eid:012x}", f"s{i}",
                       f"00000000-0000-4000-9000-{eid:012x}",
                       *constant[i % PATTERNS][k])
    events.insert(event_rows())

    states = _Table(raw, dialect, SubjectState, ["subject_id", "state", "version",
                                                 "updated_at"])
    final = [tuple(states.process({"state": p["states"][-1], "version": writes,
                                   "updated_at": p["events"][-1]["occurred_at"]})[c]
                   for c in states.columns[1:]) for p in patterns]
    states.insert((f"s{i}", *final[i % PATTERNS]) for i in order)

    snapshots = _Table(raw, dialect, StateSnapshot, ["subject_id", "event_id", "taken_at",
                                                     "state"])
    taken = [[(k, *(snapshots.process({"taken_at": p["events"][k]["occurred_at"],
                                       "state": p["states"][k]})[c]
                    for c in ("taken_at", "state")))
              for k in range(SNAPSHOT_EVERY - 1, writes, SNAPSHOT_EVERY)] for p in patterns]
    snapshots.insert((f"s{i}", event_id(k, position), at, state)
                     for position, i in enumerate(order) for k, at, state in taken[i % PATTERNS])

    changes = _Table(raw, dialect, SubjectChange, ["seq", "subject_id", "changed_at"])
    when = [[changes.process({"changed_at": e["occurred_at"]})["changed_at"]
             for e in p["events"]] for p in patterns]

    def change_rows():
        seq = 0
        for k in range(writes):
            for i in order:
                if patterns[i % PATTERNS]["changed"][k]:
                    seq += 1
                    yield seq, f"s{i}", when[i % PATTERNS][k]
    changes.insert(change_rows())


def warm(store: LedgerStore) -> float:
    """Read the store's subject states and their index once, so the lookups that follow
    measure a warm server (the tables in memory, as a running deployment has them) rather
    than the disk's first reads of a 5 GB file; seconds it took."""
    from sqlalchemy import create_engine, text

    started = time.perf_counter()
    engine = create_engine(store.url)
    with engine.connect() as conn:
        conn.execute(text("SELECT sum(length(subject_id)), sum(length(CAST(state AS TEXT))) "
                          "FROM subject_states")).one()
        conn.execute(text("SELECT count(*) FROM subject_states WHERE subject_id > ''")).one()
    engine.dispose()
    return time.perf_counter() - started


def describe(store: LedgerStore) -> str:
    url = make_url(store.url)
    where = url.database if url.drivername.startswith("sqlite") else url.query.get("options")
    how = "reused" if store.reused else "filled"
    return (f"{store.subjects:,} subjects, {store.events:,} events ({how}; filled in "
            f"{store.fill_seconds:.0f} s; {where})")
