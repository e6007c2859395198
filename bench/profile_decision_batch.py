"""Profile batched decisions in-process: N batches through the Flask test client.

    .venv/bin/python -m bench.profile_decision_batch [--batches 20] [--batch 1000]
        [--out FILE] [--database-url URL] [--no-profile]

The bodies of bench/decision_batch.py (a fifth of the subjects with consent recorded
first, one decision in ten with a sensitive category). Prints the mean wall and CPU time
of a batch, and so the decisions/s one process reaches on its own CPU (the machine is
shared: CPU time carries across runs, wall time less so), then the top 25 functions by
cumulative CPU time unless --no-profile.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from bench.decision_batch import decision
from bench.inprocess import measure, report, service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    app, url, headers = service(args.database_url)
    client = app.test_client()
    consent = json.dumps({"source": "bench", "jurisdiction": "EU", "choices": [
        {"purpose": "personalization", "status": "granted"}]})
    for s in range(max(1, args.subjects // 5)):
        r = client.put(f"/v1/subjects/u-{s}/consents", data=consent, headers=headers)
        assert r.status_code == 200, r.get_data(as_text=True)
    now = datetime.now(UTC).isoformat()
    bodies = [json.dumps({"decisions": [
        decision(f"u-{(k * 7919 + j) % args.subjects}", j, now) for j in range(args.batch)]})
        for k in range(16)]

    def post(i: int) -> None:
        r = client.post("/v1/decisions/batch", data=bodies[i % len(bodies)], headers=headers)
        assert r.status_code == 201, r.get_data(as_text=True)

    run = measure(app, post, args.batches, warm_up=3, profile=not args.no_profile)
    report(f"{args.batches} batches of {args.batch} decisions through the Flask test "
           f"client on {url.split(':')[0]}{run.mode}: "
           f"{1000 * run.elapsed / args.batches:.1f} ms wall, "
           f"{1000 * run.cpu / args.batches:.1f} ms CPU a batch = "
           f"{args.batch * args.batches / run.cpu:,.0f} decisions per CPU second", run, args.out)


if __name__ == "__main__":
    main()
