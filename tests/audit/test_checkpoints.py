"""Checkpoints are signed by the scheduler's job (never by an append) and match the tree."""

from __future__ import annotations

from sqlalchemy import select

from audit import merkle
from audit.chain import checkpoint_document, format_ts
from audit.jobs import checkpoint_job
from audit.models import AuditCheckpoint, AuditEntry
from audit.service import append_entry
from consentry.db import get_db
from consentry.secretstore import get_keys
from consentry.signing import keys_by_kid, verify_document


def _checkpoints(app):
    with app.app_context(), get_db(app).transaction(write=False) as s:
        return list(s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)))


def test_appends_never_sign_and_the_job_signs_the_tree_it_finds(make_app, tmp_path):
    app = make_app(AUDIT_EXPORT_DIR=str(tmp_path))
    for batch in (5, 7):
        with app.app_context(), get_db(app).transaction() as s:
            for i in range(batch):
                append_entry(s, get_keys(), "test.event", details={"i": i})
        assert [c.tree_size for c in _checkpoints(app)] == ([] if batch == 5 else [6])
        checkpoint_job(app, "test-holder")
    with app.app_context(), get_db(app).transaction(write=False) as s:
        hashes = list(s.scalars(select(AuditEntry.entry_hash).order_by(AuditEntry.seq)))
    sizes = [c.tree_size for c in _checkpoints(app)]
    assert len(hashes) == 13 and sizes == [6, 13]  # the policy load, then our twelve
    keys = keys_by_kid(get_keys(app).jwks())
    for c in _checkpoints(app):
        leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes[:c.tree_size]]
        assert c.root_hash == merkle.root(leaves).hex()
        verify_document(keys, checkpoint_document(c.tree_size, c.root_hash, format_ts(c.ts)),
                        {"alg": "EdDSA", "kid": c.kid, "value": c.signature})


def test_the_scheduler_job_signs_only_when_the_log_moved(app, append):
    assert "audit-checkpoint" in app.extensions["consentry.jobs"]
    append(3)
    checkpoint_job(app, "test-holder")
    checkpoint_job(app, "test-holder")
    assert len(_checkpoints(app)) == 1
    append(1)
    checkpoint_job(app, "test-holder")
    first, second = _checkpoints(app)
    assert second.tree_size == first.tree_size + 1 and second.reason == "interval"
