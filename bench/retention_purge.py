"""Bench: the retention purge against one raw DELETE of the same rows, on SQLite.

    .venv/bin/python bench/retention_purge.py              # 2,000,000 rows, half expired
    .venv/bin/python bench/retention_purge.py --rows 200000 # a quick run

Builds a target table (id INTEGER PRIMARY KEY, user_id, ts as ISO 8601 text, payload)
whose first half is past the `behavioral` cutoff, copies the file, purges the original
through the real run path (reflection, form detection, key-range batches, progress
stored on the run) and runs `DELETE FROM events WHERE ts < :cutoff` on the copy. Prints
rows per second of both, their ratio (goal >= 0.7), the longest single purge
transaction (goal < 250 ms) and the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_target(path: Path, rows: int, now: datetime, journal_mode: str = "wal") -> None:
    """`rows` events in time order: the first half 400 to 100 days old, the rest newer."""
    expired = rows // 2
    old_start = now - timedelta(days=400)
    fresh_start = now - timedelta(days=80)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode={journal_mode}")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, "
                 "ts TEXT NOT NULL, payload TEXT)")
    step_old = (300 * 86400) / expired  # spread over 300 days (400 → 100 days ago)
    step_new = (79 * 86400) / (rows - expired)
    fmt = "%Y-%m-%d %H:%M:%S"
    conn.execute(f"""
        WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows})
        INSERT INTO events (id, user_id, ts, payload)
        SELECT x, 'u' || (x % 50000),
               CASE WHEN x <= {expired}
                    THEN strftime('%Y-%m-%d %H:%M:%S', '{old_start.strftime(fmt)}',
                                  '+' || CAST((x - 1) * {step_old} AS INTEGER) || ' seconds')
                    ELSE strftime('%Y-%m-%d %H:%M:%S', '{fresh_start.strftime(fmt)}',
                                  '+' || CAST((x - {expired}) * {step_new} AS INTEGER)
                                  || ' seconds') END,
               'view:/products/' || (x % 977)
        FROM n""")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def run_purge(workdir: Path, target_db: Path, now: datetime) -> dict:
    """Purge `target_db` through a Consentry run; return the run's report entry."""
    from consentry import create_app, migrate
    from consentry.db import get_db
    from retention import service
    from retention.runner import Runner

    policy_data = tomllib.loads(
        resources.files("consentry").joinpath("default_policy.toml").read_text("utf-8"))
    policy_data["retention"]["targets"] = [{
        "name": "events", "url": f"sqlite:///{target_db}", "table": "events",
        "timestamp_column": "ts", "subject_column": "user_id", "class": "behavioral"}]
    policy_file = workdir / "policy.toml"
    policy_file.write_text(tomli_w.dumps(policy_data))
    app_db = f"sqlite:///{workdir / 'consentry.db'}"
    migrate.upgrade(app_db)
    app = create_app({"DATABASE_URL": app_db, "SECRETS_DIR": str(workdir / "secrets"),
                      "POLICY_FILE": str(policy_file), "LOG_LEVEL": "WARNING"})
    print(f"RSS with the app loaded, before the purge: {rss_mb():.0f} MB")
    worker = Runner(app, "bench")
    assert worker.acquire()
    with app.app_context(), get_db(app).transaction() as session:
        run = service.queue_run(session, worker.keys, worker.known_targets, dry_run=False,
                                targets=["events"], trigger="cli", actor="bench")
        claimed = service.claim_run(session, worker.holder, run.id)
        claimed.started_at = now  # the same cutoff as the raw DELETE
    started = time.perf_counter()
    with app.app_context():
        done = worker.execute_run(run.id)
    seconds = time.perf_counter() - started
    worker.release()
    entry = done.report["targets"]["events"]
    if entry["status"] != "succeeded":
        raise SystemExit(f"purge failed: {entry}")
    return {**entry, "wall_seconds": seconds}


def run_raw(target_db: Path, cutoff: datetime) -> tuple[int, float]:
    conn = sqlite3.connect(target_db, isolation_level=None)
    started = time.perf_counter()
    conn.execute("BEGIN")
    deleted = conn.execute("DELETE FROM events WHERE ts < ?",
                           (cutoff.strftime("%Y-%m-%d %H:%M:%S"),)).rowcount
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return deleted, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000,
                        help="rows in the target table; half are expired (default 2,000,000)")
    parser.add_argument("--journal-mode", choices=("wal", "delete"), default="wal",
                        help="the target database's journal mode (default wal: a SQLite "
                             "database with live writers of its own runs in WAL mode)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to build the databases (default: a temporary directory)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="consentry-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    cutoff = now - timedelta(days=90)
    try:
        target_db, copy_db = workdir / "events.db", workdir / "events-raw.db"
        t = time.perf_counter()
        build_target(target_db, args.rows, now, args.journal_mode)
        shutil.copyfile(target_db, copy_db)
        print(f"built {args.rows:,} rows ({args.rows // 2:,} expired, journal_mode="
              f"{args.journal_mode}) in "
              f"{time.perf_counter() - t:.1f} s")
        purge = run_purge(workdir, target_db, now)
        purge_rss = rss_mb()
        raw_deleted, raw_seconds = run_raw(copy_db, cutoff)
        if raw_deleted != purge["deleted"]:
            raise SystemExit(f"mismatch: purge deleted {purge['deleted']}, raw {raw_deleted}")
        purge_rate = purge["deleted"] / purge["wall_seconds"]
        raw_rate = raw_deleted / raw_seconds
        print(f"purge:  {purge['deleted']:,} rows in {purge['wall_seconds']:.2f} s = "
              f"{purge_rate:,.0f} rows/s in {purge['batches']} transactions")
        print(f"raw:    {raw_deleted:,} rows in {raw_seconds:.2f} s = {raw_rate:,.0f} rows/s "
              f"in 1 transaction")
        print(f"ratio (purge / raw rows per second): {purge_rate / raw_rate:.2f}  (goal >= 0.7)")
        print(f"longest purge transaction: {purge['longest_batch_ms']:.0f} ms  (goal < 250 ms); "
              f"the raw DELETE held the write lock {raw_seconds * 1000:.0f} ms")
        print(f"peak RSS: {purge_rss:.0f} MB after the purge, {rss_mb():.0f} MB at the end")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
