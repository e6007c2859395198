"""Profile consent writes in-process: N writes through the Flask test client on SQLite.

    .venv/bin/python -m bench.profile_consent_write [--writes 2000] [--out FILE]
        [--database-url URL]

Prints (and with --out saves) the top 25 functions by cumulative CPU time, with the mean
wall and CPU time of one write. CPU time, because the machine is shared: waits for the
disk (a durable commit) and for other processes vary from run to run, the work does not.
The same body as bench/consent_writes.py, so the two agree.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time

from bench.consent_writes import consent_write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-profile", action="store_true",
                        help="no cProfile: the times (and the lock held) as served")
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

    def write(i: int) -> None:
        method, path, body, h = consent_write(headers, 0, i)
        r = client.open(path, method=method, data=body, headers=h)
        assert r.status_code == 200, r.get_data(as_text=True)

    for i in range(200):  # warm-up: caches, first statements compiled
        write(i)
    held = LockHeld(get_db(app).engine)
    profiler = None if args.no_profile else cProfile.Profile(time.process_time)
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for i in range(args.writes):
        write(i)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    text = io.StringIO()
    text.write(f"{args.writes} consent writes (PUT /consents, 2 choices, evidence) through "
               f"the Flask test client on {url.split(':')[0]}"
               f"{'' if profiler else ' (no profiler)'}: "
               f"{1000 * elapsed / args.writes:.2f} ms wall, "
               f"{1000 * cpu / args.writes:.2f} ms CPU a write\n\n")
    text.write(f"{held.summary()}\n\n")
    if profiler:
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    print(text.getvalue())
    if args.out:
        with open(args.out, "w") as f:
            f.write(text.getvalue())


if __name__ == "__main__":
    main()
