"""Batched decisions per second over HTTP, conformance checked, committed durably (issue 15).

    .venv/bin/python -m bench.decision_batch [--seconds 10] [--connections 4] [--batch 1000]
        [--subjects 1000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each batch holds `--batch` decisions of `--subjects` subjects, a fifth of whom have
recorded consent first (so states are read and judged, not only defaults); one decision
in ten uses a sensitive category without a grant, so violations are audited in the mix,
as in bench/decision_writes.py. Every batch commits before it is answered.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bench.harness import (
    as_json,
    describe_load,
    engine_name,
    load,
    machine,
    measure_bare,
    parse_bench_args,
    prepare_database,
    served,
)

TARGET = 20_000  # decisions/s, batched, with conformance, durable


def decision(subject: str, i: int, decided_at: str) -> dict:
    signals = [{"category": "behavioral", "summary": "viewed Running Shoes 3 times"}]
    if i % 10 == 0:
        signals.append({"category": "location_precise", "summary": "near a store"})
    return {"subject_id": subject, "surface": "homepage_hero", "channel": "web",
            "purpose": "personalization", "item": {"id": f"sku-{i % 97}", "label": "Shoes"},
            "signals_used": signals, "rule": {"id": "R1"}, "decided_at": decided_at}


def measure_batches(env: dict, key: str, seconds: float, connections: int = 4,
                    batch: int = 1000, subjects: int = 1000) -> dict:
    """Seed consent for a fifth of `subjects`, then post batches of `batch` decisions from
    `connections` clients for `seconds`; the load's figures plus `decisions_per_s`."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    consent = as_json({"source": "bench", "jurisdiction": "EU", "choices": [
        {"purpose": "personalization", "status": "granted"}]})

    # Bodies are built before the run (as wrk sends a prepared body), so the load
    # generator, on the same two cores, spends its time sending rather than encoding.
    now = datetime.now(UTC).isoformat()
    bodies = [as_json({"decisions": [
        decision(f"u-{(k * 7919 + j) % subjects}", j, now) for j in range(batch)]})
        for k in range(16)]

    def post(n: int, i: int):
        return "POST", "/v1/decisions/batch", bodies[(n * 5 + i) % len(bodies)], headers

    with served("wsgi:app", env) as port:
        seeded = max(1, subjects // 5)
        load(port, lambda n, i: ("PUT", f"/v1/subjects/u-{(n * seeded // 4 + i) % seeded}"
                                        f"/consents", consent, headers), 4, 2.0)
        load(port, post, connections, 1.0)  # warm-up
        result = load(port, post, connections, seconds)
    return {**result, "decisions_per_s": result["ok_rps"] * batch}  # committed batches only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parse_bench_args(parser)

    url, env, key = prepare_database(args.database_url)
    baseline = measure_bare(16, min(args.seconds, 5))
    result = measure_batches(env, key, args.seconds, args.connections, args.batch,
                             args.subjects)
    rate = result["decisions_per_s"]
    print(f"\nDecisions, batched ({engine_name(url)}, gunicorn 2 workers, {args.connections} "
          f"connections, {args.batch} a batch)  [{machine()}]")
    print(f"  load: {describe_load(args.connections)}; the bare endpoint at 16 connections")
    print(f"  bare Flask endpoint: {baseline['rps']:.0f} req/s")
    print(f"  POST /v1/decisions/batch: {result['rps']:.1f} batches/s, p50 "
          f"{result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
          f"{result['failures']} failed")
    print(f"  decisions/s, conformance checked, committed durably: {rate:,.0f}")
    print(f"  goal: >= {TARGET:,} decisions/s -> {'met' if rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
