"""Decision writes per second over HTTP next to a bare Flask endpoint (issue 5).

    .venv/bin/python -m bench.decision_writes [--seconds 10] [--connections 16]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each write is judged against the subject's consent at decided_at; one in ten uses a
category without consent, so the audited violation path is part of the mix.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

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

    def decision(n: int, i: int):
        signals = [{"category": "behavioral", "summary": "viewed Running Shoes 3 times"}]
        if i % 10 == 0:
            signals.append({"category": "location_precise", "summary": "near a store"})
        body = {"subject_id": f"u-{n}-{i % 1000}", "surface": "homepage_hero", "channel": "web",
                "purpose": "personalization", "item": {"id": "sku-1", "label": "Shoes"},
                "signals_used": signals, "rule": {"id": "R1", "description": "3+ views"},
                "decided_at": datetime.now(UTC).isoformat()}
        return "POST", "/v1/decisions", as_json(body), headers

    baseline = measure_bare(args.connections, args.seconds)
    with served("wsgi:app", env) as port:
        run_load(port, decision, args.connections, 1.0)
        writes = run_load(port, decision, args.connections, args.seconds)
    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    report(f"Decision writes ({engine}, gunicorn 2 workers, {args.connections} connections)",
           [("POST /v1/decisions", writes)], baseline)
    ceiling = commit_ceiling(url)
    print(f"  durable single-row commits/s on this database (the fsync limit): {ceiling:.0f}; "
          f"writes reach {writes['rps'] / ceiling:.2f} of it")
    met = writes["rps"] >= 0.5 * baseline["rps"]
    print(f"  goal: ratio >= 0.5 -> {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
