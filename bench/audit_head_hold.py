"""How long the audit chain's head row stays locked, under concurrent consent writers.

    .venv/bin/python -m bench.audit_head_hold --database-url postgresql+psycopg://... \
        [--writers 8] [--seconds 10]

`--writers` processes each write consents through the Flask test client (one app per
process, as gunicorn workers are) for `--seconds`. Each process times, on its own
connections, every transaction that locks the head (`SELECT ... FROM audit_head ...
FOR UPDATE`): from that statement to the end of its COMMIT. The head row admits one
holder at a time, so 1 / (mean hold) bounds the chain's appends per second, however many
workers or hosts are added; when one hold integrates a batch of entries, the bound is
the batch's entries over its hold.

With the sequencer (issue 15) a write's transaction no longer locks the head: one more
process runs `audit.jobs.run_sequencer` as the scheduler would, so the holds measured
are the sequencer's, each covering a batch.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time

from bench.consent_writes import consent_write
from bench.harness import machine, prepare_database


def _writer(n: int, url: str, env: dict, key: str, seconds: float, queue) -> None:
    import os

    from sqlalchemy import event

    os.environ.update(env)
    from consentry import create_app
    from consentry.db import get_db

    app = create_app({"DATABASE_URL": url, "SECRETS_DIR": env["CONSENTRY_SECRETS_DIR"],
                      "LOG_LEVEL": "WARNING"})
    engine = get_db(app).engine
    started: dict[int, tuple[float, int]] = {}
    holds: list[tuple[float, int]] = []  # (seconds held, entries integrated)

    def _raw(conn) -> int:
        return id(conn.connection.dbapi_connection)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        text = statement.upper()
        if "FROM AUDIT_HEAD" in text and "FOR UPDATE" in text:
            started[_raw(conn)] = (time.perf_counter(), 0)
        elif text.startswith("INSERT INTO AUDIT_ENTRIES") and _raw(conn) in started:
            t0, count = started[_raw(conn)]
            rows = len(params) if executemany and isinstance(params, list | tuple) else 1
            started[_raw(conn)] = (t0, count + rows)

    @event.listens_for(engine, "rollback")
    def _rollback(conn):
        started.pop(_raw(conn), None)

    real_commit = engine.dialect.do_commit

    def timed_commit(connection):  # the pool's proxy of the DBAPI connection
        raw = id(getattr(connection, "dbapi_connection", connection))
        held = started.get(raw)
        real_commit(connection)
        if held is not None:
            holds.append((time.perf_counter() - held[0], held[1]))
            started.pop(raw, None)

    engine.dialect.do_commit = timed_commit
    if n < 0:  # the sequencer's process, when the code has one (issue 15)
        from audit.jobs import run_sequencer

        stop = time.monotonic() + seconds + 1
        integrated = 0
        while time.monotonic() < stop:
            integrated += run_sequencer(app, "bench-sequencer", budget_seconds=1.0)
        integrated += run_sequencer(app, "bench-sequencer")  # drain what is left
        queue.put((0, holds))
        return
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    client = app.test_client()
    writes = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        method, path, body, h = consent_write(headers, n, writes)
        r = client.open(path, method=method, data=body, headers=h)
        if r.status_code != 200:
            raise SystemExit(f"write failed: {r.status_code} {r.get_data(as_text=True)}")
        writes += 1
    queue.put((writes, holds))


def has_sequencer() -> bool:
    try:
        from audit.jobs import run_sequencer  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    url, env, key = prepare_database(args.database_url)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    roles = list(range(args.writers)) + ([-1] if has_sequencer() else [])
    procs = [ctx.Process(target=_writer, args=(n, url, env, key, args.seconds, queue))
             for n in roles]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    writes = sum(w for w, _ in results)
    holds = sorted(h for _, hs in results for h, _ in hs)
    entries = sum(c for _, hs in results for _, c in hs)
    print(f"Audit head lock hold, {args.writers} writer processes"
          f"{' and a sequencer' if has_sequencer() else ''}, {args.seconds:.0f} s "
          f"[{machine()}]")
    print(f"  consent writes: {writes} ({writes / args.seconds:.0f}/s over the run, "
          f"start-up included: {elapsed:.1f} s)")
    if not holds:
        print("  no transaction locked the head")
        return
    mean = statistics.fmean(holds)
    p99 = holds[min(len(holds) - 1, int(len(holds) * 0.99))]
    per_hold = entries / len(holds) if holds else 0
    print(f"  head-locking transactions: {len(holds)}, entries appended in them: {entries} "
          f"({per_hold:.1f} a hold)")
    print(f"  hold: mean {1000 * mean:.2f} ms, p50 {1000 * holds[len(holds) // 2]:.2f} ms, "
          f"p99 {1000 * p99:.2f} ms")
    print(f"  ceiling 1/mean hold: {1 / mean:.0f} head-locking transactions/s "
          f"= {per_hold / mean:.0f} audited writes/s at {per_hold:.1f} entries a hold")
    if has_sequencer():
        print("  (the writers no longer wait for the head: these holds are the sequencer's, "
              "and its batches are only as big as the writes that came meanwhile)")
        sequencer_capacity(url, env)
    else:
        print(f"  goal: ceiling >= 2,000 writes/s -> "
              f"{'met' if per_hold / mean >= 2000 else 'NOT met'}")


def sequencer_capacity(url: str, env: dict, entries: int = 20_000) -> None:
    """Queue `entries` consent-sized entries, then time the sequencer draining them: its
    holds of the head, each a full batch, bound the chain's appends per second."""
    import os

    from sqlalchemy import event

    os.environ.update(env)
    from audit.jobs import run_sequencer
    from audit.service import append_entry
    from consentry import create_app
    from consentry.db import get_db
    from consentry.secretstore import get_keys

    app = create_app({"DATABASE_URL": url, "SECRETS_DIR": env["CONSENTRY_SECRETS_DIR"],
                      "LOG_LEVEL": "WARNING"})
    db, keys = get_db(app), get_keys(app)
    for start in range(0, entries, 1000):
        with db.transaction() as s:
            for i in range(start, min(entries, start + 1000)):
                append_entry(s, keys, "consent.recorded", actor="bench",
                             subject_id=f"cap-{i % 5000}", changed_subject=f"cap-{i % 5000}",
                             details={"source": "bench", "jurisdiction": "EU",
                                      "receipt_id": f"r-{i}", "notice_version": None,
                                      "policy_version": "1", "events": [
                                          {"event_id": f"e-{i}", "purpose": "marketing",
                                           "category": None, "channel": "email",
                                           "switch": None, "status": "granted"}]},
                             personal={"evidence": {"user_agent": "bench"}})
    holds: list[float] = []
    started: list[float] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        if "FROM audit_head" in statement and "FOR UPDATE" in statement:
            started.append(time.perf_counter())

    real_commit = db.engine.dialect.do_commit

    def timed_commit(connection):
        real_commit(connection)
        if started:
            holds.append(time.perf_counter() - started.pop())

    db.engine.dialect.do_commit = timed_commit
    t0 = time.perf_counter()
    done = run_sequencer(app, "capacity")
    elapsed = time.perf_counter() - t0
    holds.sort()
    mean = statistics.fmean(holds)
    print(f"Sequencer capacity: {done} queued entries drained in {elapsed:.2f} s "
          f"({done / elapsed:.0f} entries/s) in {len(holds)} batches")
    print(f"  hold a batch of up to 1,000: mean {1000 * mean:.1f} ms, "
          f"p99 {1000 * holds[min(len(holds) - 1, int(len(holds) * 0.99))]:.1f} ms")
    ceiling = done / len(holds) / mean
    print(f"  ceiling: {ceiling:.0f} audited writes/s (entries a batch / mean hold) "
          f"-> goal >= 2,000: {'met' if ceiling >= 2000 else 'NOT met'}")


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
