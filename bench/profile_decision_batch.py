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
import cProfile
import io
import json
import pstats
import tempfile
import time
from datetime import UTC, datetime

from bench.decision_batch import decision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    from bench.lock_held import LockHeld
    from consentry import auth, create_app, migrate
    from consentry.db import get_db

    tmp = tempfile.mkdtemp(prefix="consentry-profile-")
    url = args.database_url or f"sqlite:///{tmp}/profile.db"
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRETS_DIR": f"{tmp}/secrets",
                      "LOG_LEVEL": "WARNING"})
    with app.app_context(), get_db(app).transaction() as s:
        key = auth.create_key(s, "profile", ["admin"])
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
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

    for i in range(3):  # warm-up
        post(i)
    held = LockHeld(get_db(app).engine)
    profiler = None if args.no_profile else cProfile.Profile(time.process_time)
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for i in range(args.batches):
        post(i)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    text = io.StringIO()
    text.write(f"{args.batches} batches of {args.batch} decisions through the Flask test "
               f"client on {url.split(':')[0]}{'' if profiler else ' (no profiler)'}: "
               f"{1000 * elapsed / args.batches:.1f} ms wall, "
               f"{1000 * cpu / args.batches:.1f} ms CPU a batch = "
               f"{args.batch * args.batches / cpu:,.0f} decisions per CPU second\n\n")
    text.write(f"{held.summary()}\n\n")
    if profiler:
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    print(text.getvalue())
    if args.out:
        with open(args.out, "w") as f:
            f.write(text.getvalue())


if __name__ == "__main__":
    main()
