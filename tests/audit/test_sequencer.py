"""The sequencer: writes queue their audit entry; a leased sequencer integrates them in
batches (seq, hash chain, change feed) exactly once, also when a sequencer dies."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time

import pytest
from sqlalchemy import func, select

from audit.chain import GENESIS_HASH, entry_document, entry_hash
from audit.export import ExportRequest, export_bundle
from audit.jobs import SEQUENCER_LEASE, run_sequencer
from audit.models import AuditEntry, AuditQueued
from consent import ledger
from consent.models import SubjectChange, SubjectState
from consentry import leases
from consentry.db import get_db
from consentry.secretstore import get_keys


@pytest.fixture
def app(make_app, tmp_path):
    """No inline sequencing: entries wait in the queue until a sequencer runs. The app's
    own first entry (`policy.loaded`, seq 1) is sequenced before the test starts."""
    app = make_app(AUDIT_SEQUENCE_INLINE=False, AUDIT_EXPORT_DIR=str(tmp_path / "exports"))
    assert run_sequencer(app, "setup") == 1
    return app


@pytest.fixture
def writer_key(make_key):
    return make_key("preferences:write", "preferences:read", "signals:read", "audit:read")


def put(client, key, subject, status="granted", source="test"):
    r = client.put(f"/v1/subjects/{subject}/consents", headers=key, json={
        "source": source,
        "choices": [{"purpose": "personalization", "category": "behavioral",
                     "status": status}]})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def counts(app) -> tuple[int, int, int]:
    """(entries in the chain, entries queued, change-feed rows)."""
    with get_db(app).transaction(write=False) as s:
        return (s.scalar(select(func.count()).select_from(AuditEntry)),
                s.scalar(select(func.count()).select_from(AuditQueued)),
                s.scalar(select(func.count()).select_from(SubjectChange)))


def check_chain(app) -> list[AuditEntry]:
    """Every entry's hash recomputes and links to the one before; seq has no gap."""
    with get_db(app).transaction(write=False) as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    previous = GENESIS_HASH
    for e in entries:
        document = entry_document(e.seq, e.ts, e.actor, e.action, e.subject_ref, e.details,
                                  e.prev_hash)
        assert e.prev_hash == previous and entry_hash(document) == e.entry_hash, e.seq
        previous = e.entry_hash
    return entries


def test_a_write_queues_its_entry_and_the_sequencer_integrates_it(app, writer_key):
    client = app.test_client()
    receipts = [put(client, writer_key, f"u-{i}")["receipt"] for i in range(3)]
    for _ in range(2):  # the second opt-out changes no state: audited, not in the feed
        r = client.post("/v1/subjects/u-0/opt-out", headers=writer_key,
                        json={"scope": "personalization"})
        assert r.status_code == 200, r.get_json()
    assert counts(app) == (1, 5, 0)  # nothing sequenced: not in the log, not in the feed
    listed = client.get("/v1/audit/entries", headers=writer_key).get_json()["entries"]
    assert [e["action"] for e in listed] == ["policy.loaded"]
    feed = client.get("/v1/changes", headers=writer_key).get_json()
    assert feed["changes"] == []

    assert run_sequencer(app, "test") == 5
    entries = check_chain(app)
    assert [e.details["receipt_id"] for e in entries[1:4]] == \
        [r["receipt_id"] for r in receipts]
    assert counts(app) == (6, 0, 4)
    feed = client.get("/v1/changes", headers=writer_key,
                      query_string={"after": feed["next"]}).get_json()
    # the feed: one row per write that changed a state, with that write's seq, in order
    assert [(c["subject_id"], c["seq"]) for c in feed["changes"]] == \
        [("u-0", 2), ("u-1", 3), ("u-2", 4), ("u-0", 5)]
    listed = client.get("/v1/audit/entries", headers=writer_key).get_json()["entries"]
    assert [e["seq"] for e in listed] == [1, 2, 3, 4, 5, 6]
    assert run_sequencer(app, "test") == 0  # exactly once


def test_the_sequencer_integrates_in_batches(app, writer_key):
    client = app.test_client()
    for i in range(5):
        put(client, writer_key, f"u-{i}")
    from audit.service import integrate

    with get_db(app).transaction() as s:
        assert [e.seq for e in integrate(s, limit=2)] == [2, 3]
    with get_db(app).transaction() as s:
        assert [e.seq for e in integrate(s, limit=2)] == [4, 5]
    assert counts(app) == (5, 1, 4)
    assert run_sequencer(app, "test") == 1
    check_chain(app)


def test_a_dead_sequencers_lease_lapses_and_another_takes_over(app, writer_key):
    client = app.test_client()
    for i in range(3):
        put(client, writer_key, f"u-{i}")
    db = get_db(app)
    with db.transaction() as s:  # a sequencer on another host took the lease, then died
        assert leases.acquire(s, SEQUENCER_LEASE, "dead-host:4242", 1.0)
    assert run_sequencer(app, "live") == 0
    assert counts(app) == (1, 3, 0)
    time.sleep(1.1)
    assert run_sequencer(app, "live") == 3
    assert counts(app) == (4, 0, 3)
    check_chain(app)


def test_an_append_that_needs_its_seq_sequences_the_queue_before_it(app, writer_key,
                                                                   make_key):
    client = app.test_client()
    put(client, writer_key, "u-1")
    r = client.post("/v1/retention/holds", headers=make_key("retention:admin"),
                    json={"subject_id": "u-1", "reason": "litigation"})
    assert r.status_code == 201, r.get_json()
    entries = check_chain(app)  # the hold's entry took its seq under the lock at once
    assert [e.action for e in entries] == \
        ["policy.loaded", "consent.recorded", "retention.hold.created"]
    assert counts(app) == (3, 0, 1)


def test_an_export_sequences_what_is_queued_first(app, writer_key, tmp_path):
    client = app.test_client()
    for i in range(3):
        put(client, writer_key, f"u-{i}")
    record = export_bundle(get_db(app), get_keys(app), ExportRequest(exporter="test"),
                           out=tmp_path)
    assert record.count == 4 and record.checkpoint_size == 4
    entries = check_chain(app)
    assert [e.action for e in entries] == \
        ["policy.loaded"] + ["consent.recorded"] * 3 + ["audit.exported"]
    assert counts(app)[1] == 0


def test_writes_of_one_subject_fold_in_event_order(app, writer_key):
    client = app.test_client()
    for status in ["granted", "denied", "withdrawn", "granted"]:
        put(client, writer_key, "u-1", status=status)
    run_sequencer(app, "test")
    with get_db(app).transaction(write=False) as s:
        assert ledger.load_state(s, "u-1") == ledger.replay_state(s, "u-1")


# --- several processes against one PostgreSQL --------------------------------------------

def _sequence_and_hang(url: str, secrets_dir: str, ready) -> None:
    """Take the sequencer lease, integrate a batch and never commit: then be killed."""
    from audit.service import integrate
    from consentry import create_app

    app = create_app({"DATABASE_URL": url, "SECRETS_DIR": secrets_dir,
                      "RECORD_POLICY_ON_START": False})
    db = get_db(app)
    with db.transaction() as s:
        assert leases.acquire(s, SEQUENCER_LEASE, "doomed", 2.0)
    with db.transaction() as s:
        integrate(s)
        ready.set()
        time.sleep(600)


@pytest.mark.postgres_only
def test_a_killed_sequencer_loses_nothing_and_integrates_nothing_twice(
        app, writer_key, database_url, secrets_dir):
    client = app.test_client()
    for i in range(20):
        put(client, writer_key, f"u-{i % 7}", status=random.choice(["granted", "denied"]))
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    doomed = context.Process(target=_sequence_and_hang, args=(database_url, secrets_dir, ready))
    doomed.start()
    try:
        assert ready.wait(60), "the doomed sequencer did not start"
        assert run_sequencer(app, "live") == 0  # its lease still holds
    finally:
        doomed.kill()  # SIGKILL mid-batch: its transaction never commits
        doomed.join()
    assert counts(app)[:2] == (1, 20)
    deadline = time.monotonic() + 10
    integrated = 0
    while integrated == 0 and time.monotonic() < deadline:
        integrated = run_sequencer(app, "live")
        time.sleep(0.2)
    assert integrated == 20
    check_chain(app)
    entries, queued, changes = counts(app)
    assert (entries, queued) == (21, 0)
    with get_db(app).transaction(write=False) as s:
        seqs = list(s.scalars(select(SubjectChange.seq).order_by(SubjectChange.seq)))
    assert len(seqs) == changes and len(set(seqs)) == changes


@pytest.mark.postgres_only
def test_concurrent_writers_on_few_subjects_keep_seq_chain_and_feed_in_order(app, writer_key):
    """Eight writers on five subjects while a sequencer runs and a reader follows the
    feed: seq has no gap, the chain verifies, every state folds from its events, and
    the reader, following cursors, saw every change of the feed, in seq order."""
    subjects = [f"s-{i}" for i in range(5)]
    stop = threading.Event()
    failures: list = []
    seen: list[int] = []

    def write(n: int) -> None:
        client = app.test_client()
        rng = random.Random(n)
        for _ in range(15):
            r = client.put(f"/v1/subjects/{rng.choice(subjects)}/consents", headers=writer_key,
                           json={"source": f"w{n}", "choices": [
                               {"purpose": "personalization", "category": "behavioral",
                                "status": rng.choice(["granted", "denied", "withdrawn"])}]})
            if r.status_code != 200:
                failures.append((r.status_code, r.get_json()))

    def sequence() -> None:
        while not writing_done.is_set():
            run_sequencer(app, "seq", budget_seconds=0.2, interval=0.01)

    def read_feed() -> None:
        client = app.test_client()
        cursor = None
        while True:
            done = stop.is_set()
            query = {"after": cursor} if cursor else {}
            page = client.get("/v1/changes", headers=writer_key, query_string=query).get_json()
            seen.extend(c["seq"] for c in page["changes"])
            cursor = page["next"]
            if done and not page["changes"]:
                return
            time.sleep(0.005)

    writing_done = threading.Event()
    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    sequencer = threading.Thread(target=sequence)
    reader = threading.Thread(target=read_feed)
    for t in [*writers, sequencer, reader]:
        t.start()
    for t in writers:
        t.join()
    writing_done.set()
    sequencer.join()
    run_sequencer(app, "final")  # what the last run left
    stop.set()
    reader.join()
    assert failures == []
    entries = check_chain(app)
    assert len(entries) == 1 + 8 * 15
    with get_db(app).transaction(write=False) as s:
        feed = list(s.scalars(select(SubjectChange.seq).order_by(SubjectChange.seq)))
        for subject in s.scalars(select(SubjectState.subject_id)):
            assert ledger.load_state(s, subject) == ledger.replay_state(s, subject)
    assert seen == feed  # never a change skipped, never one out of order


def test_the_sequence_command_integrates_the_queue(app, writer_key):
    client = app.test_client()
    for i in range(2):
        put(client, writer_key, f"u-{i}")
    result = app.test_cli_runner().invoke(args=["audit", "sequence"])
    assert result.exit_code == 0 and "sequenced 2 entries" in result.output, result.output
    assert counts(app) == (3, 0, 2)
