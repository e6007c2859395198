"""SERIALIZABLE mode, as a distributed PostgreSQL-compatible engine runs: a request whose
transaction fails to serialize is run again, and concurrent writers lose nothing."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import create_engine, event, func, select, text

from audit.chain import GENESIS_HASH, entry_document, entry_hash
from audit.models import AuditEntry
from consent import ledger
from consent.models import ConsentEvent, SubjectChange, SubjectState
from consentry.db import get_db

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def serial_app(make_app):
    # A write no longer locks the audit chain's head (the sequencer does, a batch at a
    # time), but writers of one subject still collide on its state row, and the tests'
    # inline sequencer runs after every commit: sixteen writers on twenty subjects, so
    # the bound here stays generous. It is still a bound: a write that cannot get
    # through answers 503 with Retry-After.
    return make_app(DB_ISOLATION="serializable", DB_RETRY_ATTEMPTS=80)


def _put(client, key, subject, status="granted", source="test"):
    return client.put(f"/v1/subjects/{subject}/consents", headers=key, json={
        "source": source,
        "choices": [{"purpose": "personalization", "category": "behavioral",
                     "status": status}]})


def test_a_request_that_fails_to_serialize_is_run_again_once(serial_app, make_key,
                                                              database_url):
    key = make_key("preferences:write", "preferences:read")
    client = serial_app.test_client()
    assert _put(client, key, "u-1").status_code == 200
    database = get_db(serial_app)
    other = create_engine(database_url)
    fired = []

    # Between the request's first statement (its snapshot) and its update of the
    # subject's state, another transaction updates that row and commits: PostgreSQL
    # answers the request's update with a real 40001.
    @event.listens_for(database.engine, "before_cursor_execute")
    def _conflict(conn, cursor, statement, params, context, executemany):
        if not fired and statement.lstrip().upper().startswith("UPDATE SUBJECT_STATES"):
            fired.append(True)
            with other.begin() as c:
                c.execute(text("UPDATE subject_states SET version = version "
                               "WHERE subject_id = 'u-1'"))

    try:
        before = database.retries
        r = _put(client, key, "u-1", status="denied", source="retried")
    finally:
        event.remove(database.engine, "before_cursor_execute", _conflict)
        other.dispose()
    assert fired and r.status_code == 200, r.get_json()
    assert database.retries == before + 1
    with database.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(ConsentEvent)
                        .where(ConsentEvent.source == "retried")) == 1  # written once
        assert ledger.load_state(s, "u-1") == ledger.replay_state(s, "u-1")
    assert [e["status"] for e in client.get("/v1/subjects/u-1/consents/history",
                                            headers=key).get_json()["events"]] == \
        ["denied", "granted"]


def test_a_scheduler_lease_that_fails_to_serialize_is_taken_on_the_next_try(serial_app,
                                                                            database_url):
    """A job's lease is its own small transaction, with no request to run it again: the
    scheduler takes it through `Database.run`, which tries again on a real 40001 (here:
    another scheduler renewed the row between this one's read and its write)."""
    from consentry import leases
    from consentry.models import Lease

    database = get_db(serial_app)
    with database.transaction() as s:
        assert leases.acquire(s, "job:bench", "old", 0)  # a lapsed holder's row
    other = create_engine(database_url)
    attempts = []

    def take(session):
        attempts.append(True)
        session.scalar(select(Lease.holder).where(Lease.name == "job:bench"))  # snapshot
        if len(attempts) == 1:
            with other.begin() as c:
                c.execute(text("UPDATE leases SET acquired_at = acquired_at "
                               "WHERE name = 'job:bench'"))
        return leases.acquire(session, "job:bench", "this", 60)

    try:
        before = database.retries
        assert database.run(take) is True
    finally:
        other.dispose()
    assert len(attempts) == 2 and database.retries == before + 1
    with database.transaction(write=False) as s:
        assert s.scalar(select(Lease.holder).where(Lease.name == "job:bench")) == "this"


def test_sixteen_writers_on_a_hundred_subjects_lose_nothing(serial_app, make_key):
    key = make_key("preferences:write", "preferences:read")
    subjects = [f"s-{i}" for i in range(100)]
    statuses = ["granted", "denied", "withdrawn"]
    failures: list = []
    per_writer = 12

    def write(n: int) -> None:
        client = serial_app.test_client()
        rng = random.Random(n)
        for i in range(per_writer):
            r = _put(client, key, rng.choice(subjects[:20] if i % 2 else subjects),
                     status=statuses[(n + i) % 3], source=f"w{n}")
            if r.status_code != 200:
                failures.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    database = get_db(serial_app)
    with database.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(ConsentEvent)) == 16 * per_writer
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        previous = GENESIS_HASH
        for e in entries:  # the chain verifies: every hash recomputes and links
            document = entry_document(e.seq, e.ts, e.actor, e.action, e.subject_ref,
                                      e.details, e.prev_hash)
            assert e.prev_hash == previous and entry_hash(document) == e.entry_hash
            previous = e.entry_hash
        written = set(s.scalars(select(SubjectState.subject_id)))
        changed = set(s.scalars(select(SubjectChange.subject_id)))
        assert written == changed  # the feed names every subject whose state changed
        for subject in written:
            assert ledger.load_state(s, subject) == ledger.replay_state(s, subject)
        seqs = list(s.scalars(select(SubjectChange.seq).order_by(SubjectChange.seq)))
        assert seqs == sorted(set(seqs))
