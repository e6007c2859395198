"""Consent writes per second over HTTP next to a bare Flask endpoint (issue 3).

    .venv/bin/python -m bench.consent_writes [--seconds 10] [--connections 16]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Both served by gunicorn, 2 sync workers, same settings, same run. Every consent write
commits durably (SQLite synchronous=FULL in WAL / PostgreSQL default fsync) with its
audit entry, receipt and state row.
"""

from __future__ import annotations

import argparse

from bench.harness import as_json, commit_ceiling, measure_bare, prepare_database, report, served
from bench.harness import load as run_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    url, env, key = prepare_database(args.database_url)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    statuses = ["granted", "denied", "withdrawn"]

    def consent_write(n: int, i: int):
        body = {"source": "bench", "jurisdiction": "EU",
                "choices": [{"purpose": "personalization", "status": statuses[i % 3]},
                            {"purpose": "marketing", "channel": "email", "status": "granted"}],
                "evidence": {"user_agent": "bench", "ip": "203.0.113.9"}}
        return "PUT", f"/v1/subjects/bench-{n}-{i % 500}/consents", as_json(body), headers

    baseline = measure_bare(args.connections, args.seconds)
    with served("wsgi:app", env) as port:
        run_load(port, consent_write, args.connections, 1.0)
        writes = run_load(port, consent_write, args.connections, args.seconds)
    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    report(f"Consent writes ({engine}, gunicorn 2 workers, {args.connections} connections)",
           [("PUT /consents (2 choices)", writes)], baseline)
    ceiling = commit_ceiling(url)
    print(f"  durable single-row commits/s on this database (the fsync limit): {ceiling:.0f}; "
          f"writes reach {writes['rps'] / ceiling:.2f} of it")
    met = writes["rps"] >= 0.5 * baseline["rps"]
    print(f"  goal: ratio >= 0.5 -> {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
