"""Recipe reach speed (issue 13): one pass over every stored subject, per recipe.

    .venv/bin/python -m bench.recipe_reach [--subjects 1000000] [--runs 3]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Fills the subjects as bench/signal_gate.py does (bulk insert, not via the API), stores a
recipe over two channels, then times `GET /v1/recipes/{id}/reach` in-process (the test
client: no HTTP server, so the figure is the service's own work) and prints subjects/s.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench.harness import prepare_database
from bench.signal_gate import checkpoint, fill_subjects

RECIPE = {
    "name": "Running fans see running gear", "purpose": "personalization",
    "channels": ["web", "email"], "surface": "homepage_hero",
    "trigger": "viewed a category 3+ times in 30 days", "audience": "returning visitors",
    "action": "show the category's top items", "categories": ["behavioral", "transactional"],
    "success_metric": "click-through on the hero", "owner": "growth-team", "status": "live",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    url, env, key = prepare_database(args.database_url)
    t = time.perf_counter()
    fill_subjects(url, args.subjects)
    fill_seconds = time.perf_counter() - t
    checkpoint(url)
    os.environ.update(env)
    from consentry import create_app

    app = create_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.put("/v1/recipes/running-fans", json=RECIPE,
                      headers=headers).status_code == 200
    best, body = None, None
    for _ in range(args.runs):
        start = time.perf_counter()
        r = client.get("/v1/recipes/running-fans/reach", headers=headers)
        seconds = time.perf_counter() - start
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        best = seconds if best is None else min(best, seconds)
    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    rate = body["subjects"] / best
    print(f"\nRecipe reach ({engine}), {body['subjects']:,} subjects, 2 channels "
          f"[filled in {fill_seconds:.0f} s]")
    print(f"  best of {args.runs}: {best:.2f} s = {rate:,.0f} subjects/s")
    print(f"  web: {body['channels']['web']}")
    print(json.dumps({"subjects": body["subjects"], "seconds": round(best, 3),
                      "subjects_per_s": round(rate)}))


if __name__ == "__main__":
    main()
