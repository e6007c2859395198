"""A scheduler killed half-way through a run: the next scheduler abandons it and finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select, text

from consentry.db import get_db
from consentry.secretstore import get_keys
from retention import service
from retention.models import RetentionRun
from retention.runner import Runner

ROOT = Path(__file__).resolve().parents[2]


def _start(database_url, secrets_dir, external_url):
    env = {**os.environ, "CONSENTRY_DATABASE_URL": database_url,
           "CONSENTRY_SECRETS_DIR": secrets_dir, "SLOW_STORE_URL": external_url,
           "CONSENTRY_SCHEDULER_POLL_SECONDS": "0.2", "CONSENTRY_RETENTION_LEASE_SECONDS": "2",
           # this tree's client too, as the tests themselves import it (not an installed one)
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "clients" / "python")])}
    return subprocess.Popen([sys.executable, "-m", "tests.retention.slow_scheduler"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(app, check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context(), get_db(app).transaction(write=False) as s:
            found = check(s)
            if found:
                return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_killed_scheduler_leaves_an_abandoned_run_that_the_next_one_finishes(
        database_url, secrets_dir, external, external_url, make_app):
    with external.begin() as conn:
        conn.execute(text("CREATE TABLE slow (id INTEGER PRIMARY KEY)"))
        for i in range(40):
            conn.execute(text("INSERT INTO slow (id) VALUES (:id)"), {"id": i})
    app = make_app()
    with app.app_context(), get_db(app).transaction() as s:
        run_id = service.queue_run(s, get_keys(app), Runner(app, "t").known_targets, dry_run=False,
                                   targets=None, trigger="api", actor="test").id

    first = _start(database_url, secrets_dir, external_url)
    try:
        def half_way(s):
            run = s.get(RetentionRun, run_id)
            slow = run.report.get("targets", {}).get("slow", {})
            return run.status == "running" and slow.get("deleted", 0) >= 5
        _wait_for(app, half_way)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        assert s.get(RetentionRun, run_id).status == "running"  # nobody told it otherwise

    second = _start(database_url, secrets_dir, external_url)
    try:
        resumed = _wait_for(app, lambda s: s.scalar(select(RetentionRun).where(
            RetentionRun.resumes == run_id, RetentionRun.status == "succeeded")))
    finally:
        second.send_signal(signal.SIGTERM)
        _, log = second.communicate(timeout=30)
    assert second.returncode == 0, log

    with app.app_context(), get_db(app).transaction(write=False) as s:
        killed = s.get(RetentionRun, run_id)
        assert killed.status == "abandoned"
        done_before = killed.report["targets"]["slow"]["deleted"]
    assert 5 <= done_before < 40  # progress was stored as it went
    assert resumed.report["targets"]["slow"]["deleted"] > 0  # the new run did the rest
    with external.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slow")).scalar() == 0
