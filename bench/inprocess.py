"""The in-process profiles' common part (bench/profile_consent_write.py,
bench/profile_decision_batch.py): the service on a fresh database behind Flask's test
client, and a measured run of its requests with the write lock's hold time and, unless
asked not to, cProfile over CPU time (the machine is shared: CPU time carries across
runs, wall time less so)."""

from __future__ import annotations

import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass


def service(database_url: str | None):
    """(app, url, headers): the service on `database_url` (default: a new SQLite file),
    migrated, and the headers of an admin key's JSON request."""
    from consentry import auth, create_app, migrate
    from consentry.db import get_db

    tmp = tempfile.mkdtemp(prefix="consentry-profile-")
    url = database_url or f"sqlite:///{tmp}/profile.db"
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRETS_DIR": f"{tmp}/secrets",
                      "LOG_LEVEL": "WARNING"})
    with app.app_context(), get_db(app).transaction() as s:
        key = auth.create_key(s, "profile", ["admin"])
    return app, url, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


@dataclass
class Run:
    elapsed: float  # seconds of wall time, all requests
    cpu: float  # seconds of CPU time, all requests
    held: object  # bench.lock_held.LockHeld
    profiler: cProfile.Profile | None

    @property
    def mode(self) -> str:
        return "" if self.profiler else " (no profiler)"


def measure(app, request: Callable[[int], None], count: int, warm_up: int,
            profile: bool) -> Run:
    """`request(i)` `warm_up` times, then `count` times measured."""
    from bench.lock_held import LockHeld
    from consentry.db import get_db

    for i in range(warm_up):  # caches, first statements compiled
        request(i)
    held = LockHeld(get_db(app).engine)
    profiler = cProfile.Profile(time.process_time) if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for i in range(count):
        request(i)
    if profiler:
        profiler.disable()
    return Run(time.perf_counter() - started, time.process_time() - cpu, held, profiler)


def report(headline: str, run: Run, out: str | None) -> None:
    """Print (and with `out` save) the headline, the lock held and the top 25 functions
    by cumulative CPU time."""
    text = io.StringIO()
    text.write(f"{headline}\n\n")
    text.write(f"{run.held.summary()}\n\n")
    if run.profiler:
        pstats.Stats(run.profiler, stream=text).sort_stats("cumulative").print_stats(25)
    print(text.getvalue())
    if out:
        with open(out, "w") as f:
            f.write(text.getvalue())
