"""Erasure under failure and load: its turn between purge batches, legal holds, exports."""

from __future__ import annotations

import time
import uuid

from consentry.db import get_db
from consentry.secretstore import get_keys
from consentry.stores import BatchResult, Store, register_store
from retention import service
from retention.models import Erasure, RetentionRun
from retention.runner import Runner


def test_an_erasure_queued_during_a_long_purge_runs_between_its_batches(make_app):
    app = make_app()
    calls: list[str] = []
    batches = iter(range(8))

    def purge(session, cutoffs, held, limit, dry_run):
        n = next(batches, None)
        time.sleep(0.15)
        calls.append("purge")
        return BatchResult(matched=1, deleted=1, done=n is None or n >= 7)

    def erase(session, subject_id, held):
        calls.append(f"erase {subject_id}")
        return BatchResult()

    register_store(app, Store("slow", purge, erase))
    worker = Runner(app, f"test-{uuid.uuid4().hex[:6]}")
    assert worker.acquire()
    queued = []

    def on_progress(_name, _entry):
        if not queued:  # a request arrives while the purge is at its first batch
            with get_db(app).transaction() as s:
                queued.append(service.queue_erasure(s, worker.keys, "u-1", "test").id)

    try:
        with app.app_context(), get_db(app).transaction() as s:
            run = service.queue_run(s, get_keys(app), worker.known_targets, dry_run=False,
                                    targets=["slow"], trigger="api", actor="test")
            service.claim_run(s, worker.holder, run.id)
        with app.app_context():
            worker.execute_run(run.id, progress=on_progress)
    finally:
        worker.release()

    assert "erase u-1" in calls
    assert calls.index("erase u-1") < len(calls) - 1 - calls[::-1].index("purge")
    with app.app_context(), get_db(app).transaction(write=False) as s:
        erasure, run = s.get(Erasure, queued[0]), s.get(RetentionRun, run.id)
        assert erasure.status == "succeeded"
        assert erasure.finished_at < run.finished_at
