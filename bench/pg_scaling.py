"""Consent writes on PostgreSQL from 1 to 4 gunicorn workers, READ COMMITTED and
SERIALIZABLE, with every acknowledged write checked in the history afterwards (issue 25).

    .venv/bin/python -m bench.pg_scaling [--seconds 8] [--connections 16]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each (isolation, workers) run serves the service (sync workers, the scheduler beside it)
on a fresh schema, loads it with the consent PUT of bench/consent_writes.py over 500
subjects a connection (so writes of one subject collide, and SERIALIZABLE retries),
then counts: every 2xx answer is one receipt, so the receipts stored must be at least
the writes acknowledged (a write in flight when the load stopped may have landed
unanswered), and each receipt's events must be there. A 5xx is a failure, not a figure.
Prints writes/s for 1 and 4 workers and their ratio (target: >= 2.5x).
"""

from __future__ import annotations

import argparse
import json

from sqlalchemy import create_engine, func, select

from bench.consent_writes import consent_write
from bench.harness import (
    SERVER,
    describe_load,
    discard_database,
    load,
    machine,
    parse_bench_args,
    prepare_database,
    scheduler,
    served,
)
from consent.models import ConsentEvent, Receipt

TARGET = 2.5  # writes/s with 4 workers over writes/s with 1


def run(url: str, isolation: str, workers: int, connections: int, seconds: float) -> dict:
    url, env, key = prepare_database(url)
    env = {**env, "CONSENTRY_DB_ISOLATION": isolation}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def request(n: int, i: int):
        return consent_write(headers, n, i)

    was = SERVER["workers"]
    SERVER["workers"] = workers
    try:
        with served("wsgi:app", env) as port, scheduler(env):
            warm = load(port, request, connections, 1.0)
            figures = load(port, request, connections, seconds)
    finally:
        SERVER["workers"] = was
    engine = create_engine(url)
    with engine.connect() as conn:
        receipts = conn.scalar(select(func.count()).select_from(Receipt))
        events = conn.scalar(select(func.count()).select_from(ConsentEvent))
    engine.dispose()
    discard_database(url, env)
    acknowledged = warm["requests"] + figures["requests"]  # every one below 400 (no failures)
    failures = warm["failures"] + figures["failures"]
    return {"isolation": isolation, "workers": workers, "rps": figures["ok_rps"],
            "p99_ms": figures["p99_ms"], "failures": failures, "acknowledged": acknowledged,
            "receipts": receipts, "events": events,
            # two choices a write: an acknowledged write's events are all there
            "nothing_lost": failures == 0 and receipts >= acknowledged
            and events == 2 * receipts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parse_bench_args(parser)
    print(f"Consent writes on PostgreSQL, 1 and 4 sync workers  [{machine()}]\n"
          f"  load: {describe_load(args.connections)}, {args.seconds:g} s a run", flush=True)
    rows = []
    for isolation in ("default", "serializable"):
        for workers in (1, 4):
            r = run(args.database_url, isolation, workers, args.connections, args.seconds)
            rows.append(r)
            print(f"  {'READ COMMITTED' if isolation == 'default' else 'SERIALIZABLE':15} "
                  f"{workers} worker(s): {r['rps']:7.0f} writes/s, p99 {r['p99_ms']:6.1f} ms, "
                  f"{r['failures']} failed; {r['acknowledged']} acknowledged, "
                  f"{r['receipts']} receipts, {r['events']} events: "
                  f"{'nothing lost' if r['nothing_lost'] else 'LOST OR FAILED'}", flush=True)
    for isolation in ("default", "serializable"):
        one, four = (next(r for r in rows if r["isolation"] == isolation and r["workers"] == w)
                     for w in (1, 4))
        ratio = four["rps"] / one["rps"] if one["rps"] else float("nan")
        met = ratio >= TARGET and one["nothing_lost"] and four["nothing_lost"]
        print(f"  {isolation}: 1 -> 4 workers {ratio:.2f}x (target >= {TARGET}x): "
              f"{'met' if met else 'NOT met'}")
    print(json.dumps({"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
