"""The audit core: one chain, no gaps, keyed subject references, under concurrency."""

import threading

from sqlalchemy import select

from audit.chain import GENESIS_HASH, entry_document, entry_hash
from audit.models import AuditEntry
from audit.service import append_entry, destroy_subject_key, open_personal
from consentry.db import get_db
from consentry.secretstore import get_keys


def _chain_is_intact(entries):
    prev = GENESIS_HASH
    for expected_seq, e in enumerate(entries, start=1):
        assert e.seq == expected_seq
        assert e.prev_hash == prev
        doc = entry_document(e.seq, e.ts, e.actor, e.action, e.subject_ref, e.details, e.prev_hash)
        assert entry_hash(doc) == e.entry_hash
        prev = e.entry_hash


def test_entries_chain_and_never_hold_the_raw_subject_id(app, session):
    with app.app_context(), get_db(app).transaction() as s:
        append_entry(s, get_keys(), "test.one", actor="k1", subject_id="user-42", details={"n": 1},
                     personal={"ip": "203.0.113.7"})
        append_entry(s, get_keys(), "test.two", actor="k1", details={"n": 2})
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    _chain_is_intact(entries)
    first = next(e for e in entries if e.action == "test.one")
    assert first.subject_ref and first.subject_ref != "user-42" and len(first.subject_ref) == 64
    stored = repr(first.details)
    assert "user-42" not in stored and "203.0.113.7" not in stored
    with app.app_context():
        assert open_personal(session, get_keys(), first) == {"ip": "203.0.113.7"}


def test_shredding_hides_personal_fields_but_keeps_the_chain(app, session):
    with app.app_context(), get_db(app).transaction() as s:
        append_entry(s, get_keys(), "test.ev", subject_id="u-9", personal={"ua": "Firefox"})
    with app.app_context(), get_db(app).transaction() as s:
        assert destroy_subject_key(s, get_keys(), "u-9")
    with app.app_context():
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        _chain_is_intact(entries)
        assert open_personal(session, get_keys(), entries[-1]) is None


def test_concurrent_writers_leave_no_gaps(app, session):
    db = get_db(app)
    errors = []

    def writer(n):
        try:
            for i in range(15):
                with app.app_context(), db.transaction() as s:
                    append_entry(s, get_keys(), "test.concurrent", actor=f"w{n}", details={"i": i})
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert len([e for e in entries if e.action == "test.concurrent"]) == 90
    _chain_is_intact(entries)
