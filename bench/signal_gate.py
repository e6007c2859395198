"""Signal gate speed (issue 4): single lookups, batch, scale with stored subjects, client cache.

    .venv/bin/python -m bench.signal_gate [--seconds 8] [--large 1000000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Served by gunicorn, 2 sync workers, next to the bare Flask endpoint of the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from sqlalchemy import create_engine, func, insert, select

from bench.harness import (
    as_json,
    measure_bare,
    parse_bench_args,
    prepare_database,
    report,
    served,
)
from bench.harness import load as run_load
from consent.models import SubjectState
from consent.state import Choice, ConsentState

CATEGORIES = ["behavioral", "transactional", "declared", "location_precise", "health"]


def fill_subjects(url: str, total: int) -> None:
    """Store `total` subjects with a realistic state (bulk insert; not via the API)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        have = conn.scalar(select(func.count()).select_from(SubjectState))
    rng = random.Random(7)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    batch = []
    for i in range(have, total):
        state = ConsentState(rng.choice(["EU", "US-CA", "DEFAULT"]), {
            ("personalization", None, None): Choice("granted", now),
            ("personalization", rng.choice(CATEGORIES), None): Choice(
                rng.choice(["granted", "denied"]), now)})
        batch.append({"subject_id": f"s{i}", "state": state.to_json(), "version": 1,
                      "updated_at": now})
        if len(batch) == 20_000:
            with engine.begin() as conn:
                conn.execute(insert(SubjectState), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(SubjectState), batch)
    engine.dispose()


def checkpoint(url: str) -> None:
    """Fold SQLite's write-ahead log into the database file before measuring reads."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()


GATE_LOOKUP = "/v1/subjects/s{}/allowed-signals?purpose=personalization&channel=web"
CONSENT_READ = "/v1/subjects/s{}/consents"


def single_lookups(port, key, stored, connections, seconds, path=GATE_LOOKUP):
    """GETs of `path` (a subject's number in `{}`), subjects s0 .. s<stored-1> at random,
    after a one-second warm-up: the gate's lookup by default, or CONSENT_READ."""
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(1)

    def request(_n, _i):
        return "GET", path.format(rng.randrange(stored)), None, headers

    run_load(port, request, connections, 1.0)
    return run_load(port, request, connections, seconds)


def batch_lookups(port, key, stored, connections, seconds):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    rng = random.Random(2)

    def request(_n, _i):
        start = rng.randrange(max(1, stored - 1000))
        body = {"purpose": "personalization", "channel": "web",
                "subjects": [f"s{start + j}" for j in range(1000)]}
        return "POST", "/v1/signals/check", as_json(body), headers

    run_load(port, request, connections, 1.0)
    return run_load(port, request, connections, seconds)


def client_cached(port, key, seconds=3.0) -> float:
    from consentry_client import GateClient

    gate = GateClient(f"http://127.0.0.1:{port}", key, sync_interval=3600)
    gate.sync()
    subjects = [f"s{i}" for i in range(1000)]
    for s in subjects:
        gate.allowed_signals(s, "personalization", "web")
    calls = 0
    stop = time.perf_counter() + seconds
    lookup = gate.allowed_signals
    start = time.perf_counter()
    while time.perf_counter() < stop:
        for s in subjects:
            lookup(s, "personalization", "web")
        calls += len(subjects)
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parse_bench_args(parser)

    # Two databases, filled up front: one with --small subjects, one with --large; the
    # single-lookup figure of each is measured twice, interleaved, and the better taken,
    # so neither gets the warmer machine.
    small_url, small_env, key = prepare_database(args.database_url)
    fill_subjects(small_url, args.small)
    t = time.perf_counter()
    large_url, large_env, large_key = prepare_database(args.database_url)
    fill_subjects(large_url, args.large)
    fill_seconds = time.perf_counter() - t
    for url in (small_url, large_url):
        checkpoint(url)
    baseline = measure_bare(args.connections, args.seconds)
    smalls, larges = [], []
    for _ in range(2):
        with served("wsgi:app", small_env) as port:
            smalls.append(single_lookups(port, key, args.small, args.connections, args.seconds))
        with served("wsgi:app", large_env) as port:
            larges.append(single_lookups(port, large_key, args.large, args.connections,
                                         args.seconds))
    small = max(smalls, key=lambda r: r["rps"])
    large = max(larges, key=lambda r: r["rps"])
    with served("wsgi:app", small_env) as port:
        batch = batch_lookups(port, key, args.small, 4, args.seconds)
        cached = client_cached(port, key)
    url = small_url
    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    report(f"Signal gate ({engine}, gunicorn 2 workers)", [
        (f"allowed-signals, {args.small:,} subj", small),
        (f"allowed-signals, {args.large:,} subj", large),
        ("signals/check x1000 (4 conn)", batch)], baseline, args.connections)
    decisions = batch["rps"] * 1000
    ratio = small["rps"] / baseline["rps"]
    scale = large["rps"] / small["rps"]
    print(f"\n  single lookup: {ratio:.2f}x bare (goal 0.8), p99 {small['p99_ms']:.1f} ms "
          f"at {args.connections} connections (goal <= 10)")
    print(f"  batch: {decisions:,.0f} subject-decisions/s (goal 100,000)")
    print(f"  scale: {args.large:,} subjects vs {args.small:,}: {scale:.2f}x (goal 0.9) "
          f"[filled in {fill_seconds:.0f} s]")
    print(f"  engine client, cached path: {cached:,.0f} decisions/s in-process (goal 500,000)")
    print(json.dumps({"single_ratio": round(ratio, 3), "p99_ms": round(small["p99_ms"], 2),
                      "batch_decisions_per_s": round(decisions), "scale_ratio": round(scale, 3),
                      "client_cached_per_s": round(cached)}))


if __name__ == "__main__":
    main()
