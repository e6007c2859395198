"""Several scheduler processes on one PostgreSQL database: each scheduled purge runs once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.jobs import run_sequencer
from audit.models import AuditEntry
from consentry.db import get_db
from retention.models import RetentionRun
from tests.retention.conftest import write_policy
from tests.retention.test_targets import make_table, remaining, target

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres_only
def test_each_scheduled_purge_runs_exactly_once_across_schedulers(
        database_url, secrets_dir, external, external_url, make_app, tmp_path):
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    make_table(external, "ev", "TEXT", [{"id": i, "user_id": f"u{i}", "kind": "behavioral",
                                         "ts": old} for i in range(1, 301)])
    policy = write_policy(tmp_path / "policy.toml", [target("ev", external_url)])
    app = make_app(POLICY_FILE=policy)  # empties the tables after the test
    env = {**os.environ, "CONSENTRY_DATABASE_URL": database_url,
           "CONSENTRY_SECRETS_DIR": secrets_dir, "CONSENTRY_POLICY_FILE": policy,
           "CONSENTRY_RETENTION_CRON": "interval:1", "CONSENTRY_SCHEDULER_POLL_SECONDS": "0.5",
           "CONSENTRY_RETENTION_LEASE_SECONDS": "5", "CONSENTRY_RETENTION_BATCH_ROWS": "50"}
    schedulers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
                                   cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until every process ran a few slots
            with app.app_context(), get_db(app).transaction(write=False) as s:
                done = s.scalars(select(RetentionRun).where(
                    RetentionRun.trigger == "schedule", RetentionRun.status == "succeeded")).all()
            if len(done) >= 4:
                break
            time.sleep(0.5)
    finally:
        for process in schedulers:
            process.send_signal(signal.SIGTERM)
        logs = [process.communicate(timeout=30)[1] for process in schedulers]
    assert all(process.returncode == 0 for process in schedulers), logs
    assert all("retention-poll, retention-purge" in log for log in logs), logs
    # A run that finished while its scheduler shut down left its audit entry queued for
    # the next sequencer (as a deployment's next scheduler would): integrate it now.
    run_sequencer(app)

    with app.app_context(), get_db(app).transaction(write=False) as s:
        runs = s.scalars(select(RetentionRun).where(RetentionRun.trigger == "schedule")
                         .order_by(RetentionRun.started_at)).all()
        finished = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "retention.run.finished")).all()
    assert len(runs) >= 4
    assert all(r.status == "succeeded" for r in runs)
    slots = [r.scheduled_for for r in runs]
    assert len(slots) == len(set(slots))  # no slot purged twice
    assert {r.holder.split(":")[1] for r in runs} <= {str(p.pid) for p in schedulers}
    # each run audited once, and no two runs ever overlapped: one runner at a time
    audited = [e.details["run_id"] for e in finished]
    assert sorted(audited) == sorted(r.id for r in runs)
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.finished_at <= later.started_at
    # every expired row deleted exactly once across all the runs
    assert sum(r.report["targets"]["ev"]["deleted"] for r in runs) == 300
    assert remaining(external, "ev") == set()
