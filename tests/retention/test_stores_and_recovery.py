"""Own stores through the registry, a killed run recovered, and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from consentry.db import get_db
from consentry.secretstore import get_keys
from consentry.stores import BatchResult, Held, Store, register_store
from retention import service
from retention.models import RetentionRun
from retention.runner import Runner
from tests.retention.conftest import by_target, run_now
from tests.retention.test_api import poll
from tests.retention.test_targets import AS_OF, make_table, remaining, target


class ListStore:
    """A stand-in for a domain's store (decisions, say): rows of (subject, category, ts, n)."""

    def __init__(self, rows):
        self.rows = list(rows)
        self.calls = []

    def purge(self, session, cutoffs, held: Held, limit, dry_run):
        self.calls.append((dict(cutoffs), held, limit, dry_run))
        expired = [r for r in self.rows if r[2] < cutoffs["behavioral"]]
        kept = [r for r in expired if r[0] in held.subject_ids or r[1] in held.categories]
        going = [r for r in expired if r not in kept][:limit]
        if not dry_run:
            self.rows = [r for r in self.rows if r not in going]
        remaining_ = len([r for r in expired if r not in kept]) - len(going)
        return BatchResult(matched=len(going), deleted=0 if dry_run else len(going),
                           held=len(kept) if not going or dry_run else 0,
                           done=dry_run or remaining_ == 0)

    def erase(self, session, subject_id, held: Held):
        mine = [r for r in self.rows if r[0] == subject_id]
        if subject_id in held.subject_ids:
            return BatchResult(held=len(mine))
        self.rows = [r for r in self.rows if r[0] != subject_id]
        return BatchResult(matched=len(mine), deleted=len(mine))


def test_own_stores_are_purged_in_batches_through_the_registry(make_app):
    app = make_app(RETENTION_BATCH_ROWS=2)
    old, new = AS_OF - timedelta(days=91), AS_OF - timedelta(days=89)
    store = ListStore([("u1", "behavioral", old, n) for n in range(5)]
                      + [("u2", "behavioral", new, 5)])
    register_store(app, Store("decisions", store.purge, store.erase))

    report = run_now(app, as_of=AS_OF)

    assert by_target(report)["decisions"]["deleted"] == 5
    assert store.rows == [("u2", "behavioral", new, 5)]
    assert all(limit == 2 for _, _, limit, _ in store.calls)
    assert store.calls[0][0]["behavioral"] == AS_OF - timedelta(days=90)
    assert "profile" not in store.calls[0][0]  # kept for the account's lifetime


def test_erasure_reaches_own_stores(make_app):
    app = make_app()
    store = ListStore([("u1", "behavioral", AS_OF), ("u2", "behavioral", AS_OF)])
    register_store(app, Store("decisions", store.purge, store.erase))
    client = app.test_client()
    from consentry import auth

    with app.app_context(), get_db(app).transaction() as s:
        key = auth.create_key(s, "eraser", ["erasure:write"])
    headers = {"Authorization": f"Bearer {key}"}
    erasure_id = client.post("/v1/subjects/u1/erasure", headers=headers).get_json()["erasure_id"]
    poll(app)
    body = client.get(f"/v1/erasures/{erasure_id}", headers=headers).get_json()
    assert body["certificate"]["document"]["targets"]["decisions"]["deleted"] == 1
    assert store.rows == [("u2", "behavioral", AS_OF)]


def test_a_killed_run_is_abandoned_and_the_next_run_finishes_the_work(
        retention_app, external, external_url):
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    make_table(external, "ev", "TEXT",
               [{"id": i, "user_id": "u", "kind": "behavioral", "ts": old} for i in range(1, 11)])
    app = retention_app([target("ev", external_url)])
    # A runner that died half-way: its run is `running`, some rows are gone, and its
    # lease has expired (it stopped renewing it).
    with app.app_context(), get_db(app).transaction() as s:
        run = service.queue_run(s, get_keys(app), Runner(app, "t").known_targets, dry_run=False,
                                targets=None, trigger="schedule", actor="scheduler")
        service.claim_run(s, "dead-host:123:abc", run.id)
        run.report = {"targets": {"ev": {"status": "running", "matched": 4, "deleted": 4,
                                         "held": 0, "error": None}}}
    with external.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ev WHERE id_plain <= 4")

    poll(app)  # the next scheduler's first poll

    with app.app_context(), get_db(app).transaction(write=False) as s:
        killed = s.get(RetentionRun, run.id)
        resumed = s.scalar(select(RetentionRun).where(RetentionRun.resumes == run.id))
        assert killed.status == "abandoned"
        assert "stopped before finishing" in killed.error
        assert killed.report["targets"]["ev"]["deleted"] == 4  # progress was kept
        assert resumed.status == "succeeded"
        assert resumed.report["targets"]["ev"]["deleted"] == 6
    assert remaining(external, "ev") == set()


def test_cli_run_prints_the_report_as_a_table(retention_app, external, external_url):
    now = datetime.now(UTC)
    ages = {1: 200, 2: 1, 3: 400, 4: 2}  # days
    make_table(external, "ev", "TEXT",
               [{"id": i, "user_id": "u", "kind": "behavioral",
                 "ts": (now - timedelta(days=days)).isoformat()} for i, days in ages.items()])
    app = retention_app([target("ev", external_url),
                         target("gone", external_url, table="nope", **{"class": "behavioral"})])
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["retention", "run", "--dry-run", "--target", "ev"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output
    assert len(remaining(external, "ev")) == 4

    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 1  # one target failed
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("target"))
    assert header.split() == ["target", "status", "matched", "deleted", "held", "error"]
    ev = next(line for line in lines if line.startswith("ev "))
    assert ev.split()[:5] == ["ev", "succeeded", "2", "2", "0"]
    assert "not found" in next(line for line in lines if line.startswith("gone "))
    assert remaining(external, "ev") == {2, 4}

    unknown = runner.invoke(args=["retention", "run", "--target", "nope"])
    assert unknown.exit_code != 0 and "unknown target" in unknown.output


def test_a_broken_store_fails_alone(make_app):
    app = make_app()

    def broken(*_args):
        raise RuntimeError("decisions table is being rebuilt")

    healthy = ListStore([("u1", "behavioral", AS_OF - timedelta(days=100), 0)])
    register_store(app, Store("broken", broken, broken))
    register_store(app, Store("healthy", healthy.purge, healthy.erase))

    report = run_now(app, as_of=AS_OF)

    assert report["status"] == "failed"
    assert by_target(report)["broken"]["status"] == "failed"
    assert "being rebuilt" in by_target(report)["broken"]["error"]
    assert by_target(report)["healthy"]["deleted"] == 1
