"""CPU per request in-process: what bounds each issue 15 target on a CPU-bound server.

    .venv/bin/python -m bench.cpu_per_request [--requests 2000] [--kinds gate,write,...]
        [--database-url URL] [--profile cumulative|tottime]

Calls the app as gunicorn does (a WSGI call with a prepared environ; no test client) and
prints the process CPU time of one request of each kind next to the bare Flask endpoint's
(bench/bare_app.py), with the same bodies as the served benches. CPU time, not wall
time, because the machine is shared: what a request costs does not change with the load
around it as much as how long it waits does. The served ratio is lower than the
in-process one: gunicorn's own work per request (accept, parse, respond; about 0.5 ms
here) is the same for both and is not counted here.

Kinds: bare, gate (the single lookup, through its fast path), gate-view (the same through
the Flask view, CONSENTRY_FAST_PATHS=false), read (GET /consents), write (PUT /consents),
decision (POST /v1/decisions), batch (POST /v1/decisions/batch, 1,000 decisions; per
decision).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import tempfile
import time
from datetime import UTC, datetime

from werkzeug.test import EnvironBuilder

from bench.bare_app import app as bare_app
from bench.consent_writes import consent_write
from bench.decision_batch import decision as batch_decision
from bench.decision_writes import decision
from bench.harness import as_json, machine
from bench.signal_gate import fill_subjects

KINDS = ["bare", "gate", "gate-view", "read", "write", "decision", "batch"]
SUBJECTS = 10_000


def make_apps(url: str | None):
    from consentry import auth, create_app, migrate
    from consentry.db import get_db

    tmp = tempfile.mkdtemp(prefix="consentry-cpu-")
    if url is None:
        url = f"sqlite:///{tmp}/cpu.db"
        migrate.upgrade(url)
    else:
        from bench.harness import prepare_database

        url, _env, _key = prepare_database(url, tmp)
    fill_subjects(url, SUBJECTS)
    config = {"DATABASE_URL": url, "SECRETS_DIR": f"{tmp}/secrets", "LOG_LEVEL": "WARNING"}
    app = create_app(config)
    view_app = create_app({**config, "FAST_PATHS": False})
    with app.app_context(), get_db(app).transaction() as s:
        key = auth.create_key(s, "cpu", ["admin"])
    return app, view_app, {"Authorization": f"Bearer {key}",
                           "Content-Type": "application/json"}


def request_maker(kind: str, headers: dict):
    rng = random.Random(1)
    gate = "/v1/subjects/s{}/allowed-signals?purpose=personalization&channel=web"

    def make(i: int):
        if kind == "bare":
            return "GET", "/bare", None, {}
        if kind in ("gate", "gate-view"):
            return "GET", gate.format(rng.randrange(SUBJECTS)), None, headers
        if kind == "read":
            return "GET", f"/v1/subjects/s{rng.randrange(SUBJECTS)}/consents", None, headers
        if kind == "write":
            return consent_write(headers, i % 16, i)
        if kind == "decision":
            return decision(headers, i % 16, i)
        now = datetime.now(UTC).isoformat()
        return "POST", "/v1/decisions/batch", as_json({"decisions": [
            batch_decision(f"u-{(i * 7919 + j) % 1000}", j, now) for j in range(1000)]}), headers

    return make


def cpu_per_request(target, make, count: int, offset: int,
                    profiler: cProfile.Profile | None = None) -> float:
    """Seconds of CPU one request of `make` costs through `target` (a WSGI app)."""
    environs = []
    for i in range(offset, offset + count):
        method, path, body, headers = make(i)
        path, _, query = path.partition("?")
        environs.append(EnvironBuilder(path=path, query_string=query or None, method=method,
                                       data=body, headers=headers).get_environ())
    statuses = []

    def start_response(status, _headers, _exc_info=None):
        statuses.append(status)

    if profiler:
        profiler.enable()
    started = time.process_time()
    for environ in environs:
        b"".join(target(environ, start_response))
    spent = time.process_time() - started
    if profiler:
        profiler.disable()
    failed = [s for s in statuses if int(s[:3]) >= 400]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed: {failed[:3]}")
    return spent / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--profile", default=None, help="print a cProfile listing sorted so")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    app, view_app, headers = make_apps(args.database_url)
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"CPU per request in-process ({engine}; {machine()})")
    print(f"  {'kind':10} {'ms CPU':>8} {'bare/kind':>10}")
    bare = None
    for kind in ["bare", *[k for k in kinds if k != "bare"]]:
        target = {"bare": bare_app, "gate-view": view_app}.get(kind, app)
        make = request_maker(kind, headers)
        count = max(5, args.requests // 1000) if kind == "batch" else args.requests
        cpu_per_request(target, make, max(3, count // 10), 0)  # warm-up
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        cpu = cpu_per_request(target, make, count, 10**6, profiler)
        if kind == "batch":
            cpu /= 1000  # a decision of the batch
        bare = cpu if kind == "bare" else bare
        print(f"  {kind:10} {1000 * cpu:8.3f} {bare / cpu:10.3f}"
              + ("  (a decision of a 1,000 batch)" if kind == "batch" else ""), flush=True)
        if profiler and kind != "bare":
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(args.profile).print_stats(30)
            print(text.getvalue())


if __name__ == "__main__":
    main()
