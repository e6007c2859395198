"""Serve an app with gunicorn, load it with wrk (or threads in this process); print figures.

Every bench compares against the bare Flask endpoint (bench/bare_app.py) served with
the same settings in the same run, so the ratio is what carries across machines.

The load generator shares the machine's cores with what it measures. wrk (`apt-get
install wrk`) costs little of them; Python threads cost about half of two cores, which
holds the bare endpoint down far more than the service and so inflates every ratio about
twice. `load()` uses wrk when it is on PATH; `--load-generator` or `BENCH_LOAD=python|wrk`
chooses, and every report names the one that measured.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# How every app of a run is served, the bare baseline and the service alike: 2 workers,
# sync, or gthread with `threads` threads each when above 1 (`--threads` sets it).
SERVER = {"workers": 2, "threads": 1}


def server_settings(threads: int | None = None) -> str:
    """The serving settings as reports name them; `threads` sets them for the run."""
    if threads is not None:
        SERVER["threads"] = threads
    workers, threads = SERVER["workers"], SERVER["threads"]
    return (f"gunicorn {workers} sync workers" if threads == 1
            else f"gunicorn {workers} gthread workers x {threads} threads")


@contextmanager
def served(target: str, env: dict | None = None):
    """Run `gunicorn target` on a free port, as SERVER says; yield the port."""
    workers, threads = SERVER["workers"], SERVER["threads"]
    worker_class = "gthread" if threads > 1 else "sync"
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", worker_class, "--threads", str(threads),
           "--log-level", "warning", "--backlog", "2048", target]
    full_env = {**os.environ, "CONSENTRY_LOG_LEVEL": "WARNING", **(env or {})}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{target} did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def scheduler(env: dict):
    """Run `flask --app wsgi scheduler` (the jobs, the audit sequencer among them) beside
    the served app, as a deployment does."""
    full_env = {**os.environ, "CONSENTRY_LOG_LEVEL": "WARNING", **env}
    proc = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "scheduler"], cwd=ROOT,
                            env=full_env)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def audit_queue_drain(url: str, timeout: float = 60.0) -> tuple[int, float] | None:
    """(entries still queued for the audit sequencer, seconds until none were); None when
    this code has no queue (before issue 15)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        if not inspect(engine).has_table("audit_queue"):
            return None
        started = time.monotonic()
        first = None
        while time.monotonic() - started < timeout:
            with engine.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM audit_queue")).scalar_one()
            first = left if first is None else first
            if left == 0:
                break
            time.sleep(0.01)
        return first, time.monotonic() - started
    finally:
        engine.dispose()


Request = tuple[str, str, bytes | None, dict]

LOAD_GENERATORS = ("wrk", "python")
_generator: str | None = None  # chosen by use_load_generator(), else on first use


def load_generator() -> str:
    """The load generator of this run: the one chosen, else BENCH_LOAD, else wrk if it is on
    PATH, else Python threads (saying once that ratios come out inflated)."""
    global _generator
    if _generator is None:
        chosen = os.environ.get("BENCH_LOAD")
        if chosen is None and not shutil.which("wrk"):
            print("warning: wrk is not installed (apt-get install wrk): loading from Python "
                  "threads, which inflates every ratio to bare Flask about twice",
                  file=sys.stderr)
        use_load_generator(chosen or ("wrk" if shutil.which("wrk") else "python"))
    return _generator


def use_load_generator(name: str) -> None:
    """Load with `name` (wrk or python) from now on."""
    global _generator
    if name not in LOAD_GENERATORS:
        raise SystemExit(f"load generator {name!r}: choose one of {', '.join(LOAD_GENERATORS)}")
    if name == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH (apt-get install wrk)")
    _generator = name


def describe_load(connections: int) -> str:
    """What loads the benches, for their reports: 'wrk 4.1.0 -t1 -c16' or Python threads."""
    if load_generator() == "python":
        return f"python threads, {connections} connections (ratios inflated about 2x)"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    version = re.search(r"\d+\.\d+\.\d+", out)
    return f"wrk {version.group() if version else '?'} -t1 -c{connections}"


def parse_bench_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """`parser.parse_args()` with `--load-generator` and `--threads` added and applied."""
    parser.add_argument("--load-generator", choices=LOAD_GENERATORS, default=None,
                        help="wrk (the default when it is on PATH) or python threads "
                             "(ratios come out about twice as high); or env BENCH_LOAD")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads a gunicorn worker, for the bare baseline and the service "
                             "alike (above 1: the gthread worker, whose threads overlap their "
                             "waits for the database)")
    args = parser.parse_args()
    if args.load_generator:
        use_load_generator(args.load_generator)
    server_settings(max(1, args.threads))
    return args


def load(port: int, make_request: Callable[[int, int], Request], connections: int = 16,
         seconds: float = 10.0, keepalive: bool = False) -> dict:
    """Load the server on `port` from `connections` connections for `seconds` with the
    requests `make_request(n, i)` (request `i` of connection `n`); return throughput and
    latencies: requests, failures, rps, ok_rps (answered below 400), p50_ms, p99_ms,
    mean_ms."""
    if load_generator() == "wrk":
        return _load_wrk(port, make_request, connections, seconds, keepalive)
    return _load_python(port, make_request, connections, seconds, keepalive)


WRK_SCRIPT = Path(__file__).with_name("wrk_requests.lua")
PREPARED_REQUESTS = 20_000  # distinct enough that no cache is favoured
PREPARED_BYTES = 32 << 20  # but no more than this (a batch of 1,000 decisions is ~300 KB)


def _load_wrk(port, make_request, connections, seconds, keepalive) -> dict:
    """wrk, one thread (as issue 15 measured, `wrk -t1 -c16`), sending requests prepared
    here just before the run, connection n's in turn, and cycling through them."""
    with tempfile.NamedTemporaryFile(prefix="consentry-wrk-", suffix=".http") as file:
        size = 0
        for k in range(PREPARED_REQUESTS):
            raw = _raw_request(port, *make_request(k % connections, k // connections),
                               keepalive=keepalive)
            file.write(b"%d\n" % len(raw) + raw)
            size += len(raw)
            if size >= PREPARED_BYTES:
                break
        file.flush()
        # wrk takes whole seconds; its timeout is 2 s unless told (the threads' is 30 s)
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "30s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}/",
               "--", file.name]
        run = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in run.stdout.splitlines() if x.startswith("BENCH ")), None)
    if run.returncode or line is None:
        raise RuntimeError(f"wrk failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    r = json.loads(line.removeprefix("BENCH "))
    elapsed = r["duration_us"] / 1e6
    failures = r["status_errors"] + r["socket_errors"]
    if failures:
        print(f"  ! {r['status_errors']} answers >= 400, {r['socket_errors']} socket errors "
              f"(BENCH_LOAD=python prints the first failing request)", file=sys.stderr)
    count = r["requests"]
    return {
        "requests": count,
        "failures": failures,
        "rps": count / elapsed,
        "ok_rps": max(0, count - r["status_errors"]) / elapsed,  # answered below 400
        "p50_ms": r["p50_us"] / 1000 if count else float("nan"),
        "p99_ms": r["p99_us"] / 1000 if count else float("nan"),
        "mean_ms": r["mean_us"] / 1000 if count else float("nan"),
    }


def _raw_request(port: int, method: str, path: str, body: bytes | None, headers: dict,
                 keepalive: bool) -> bytes:
    """The request as http.client sends it: HTTP/1.1, closing the connection after the
    answer unless `keepalive` (as the threads do)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             *(f"{name}: {value}" for name, value in headers.items())]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    if not keepalive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _load_python(port, make_request, connections, seconds, keepalive) -> dict:
    """Client threads in this process: on a small machine they take about half its CPU."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [0] * connections
    stop = time.monotonic() + seconds

    def worker(n: int):
        conn = None
        i = 0
        while time.monotonic() < stop:
            method, path, body, headers = make_request(n, i)
            i += 1
            start = time.perf_counter()
            try:
                if conn is None or not keepalive:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    failures[n] += 1
                    if failures[n] == 1:
                        print(f"  ! {method} {path} -> {response.status}", file=sys.stderr)
                if not keepalive:
                    conn.close()
            except OSError:
                failures[n] += 1
                conn = None
                continue
            latencies[n].append(time.perf_counter() - start)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    flat = sorted(x for per in latencies for x in per)
    count = len(flat)
    return {
        "requests": count,
        "failures": sum(failures),
        "rps": count / elapsed,
        "ok_rps": max(0, count - sum(failures)) / elapsed,  # answered below 400
        "p50_ms": 1000 * flat[count // 2] if count else float("nan"),
        "p99_ms": 1000 * flat[min(count - 1, int(count * 0.99))] if count else float("nan"),
        "mean_ms": 1000 * statistics.fmean(flat) if count else float("nan"),
    }


def bare_request(_n: int, _i: int, method: str = "POST") -> Request:
    if method == "GET":
        return "GET", "/bare", None, {}
    return method, "/bare", b'{"x": 1}', {"Content-Type": "application/json"}


def measure_bare(connections: int, seconds: float, method: str = "POST") -> dict:
    """The bare Flask endpoint answering `method` (GET, POST or PUT), same settings."""
    def request(n: int, i: int) -> Request:
        return bare_request(n, i, method)

    with served("bench.bare_app:app") as port:
        load(port, request, connections, 1.0)  # warm-up
        return load(port, request, connections, seconds)


_SCHEMAS = itertools.count()


def prepare_database(url: str | None, workdir: str | Path | None = None,
                     schema: str | None = None) -> tuple[str, dict, str]:
    """Migrate a fresh database (SQLite file or a PostgreSQL schema); return url, env, key.

    `workdir` (default: a new temporary directory) holds the SQLite file and the secrets;
    `schema` names the PostgreSQL schema (default: one new to this run)."""
    tmp = str(workdir) if workdir else tempfile.mkdtemp(prefix="consentry-bench-")
    if url is None:
        url = f"sqlite:///{tmp}/bench.db"
    elif url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        schema = schema or f"bench_{os.getpid()}_{next(_SCHEMAS)}"
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}
                                              ).render_as_string(hide_password=False)
    env = {"CONSENTRY_DATABASE_URL": url, "CONSENTRY_SECRETS_DIR": f"{tmp}/secrets"}
    run_env = {**os.environ, **env}
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=run_env, check=True, capture_output=True)
    out = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "keys", "create", "--name",
                          "bench", "--scope", "admin"], cwd=ROOT, env=run_env, check=True,
                         capture_output=True, text=True)
    return url, env, out.stdout.strip().splitlines()[-1]


def discard_database(url: str, env: dict) -> None:
    """Remove what prepare_database made for `url` (in its temporary directory, or its
    PostgreSQL schema): a measure's database can be gigabytes."""
    import shutil

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    tmp = Path(env["CONSENTRY_SECRETS_DIR"]).parent
    if url.startswith("postgresql"):
        parsed = make_url(url)
        schema = parsed.query["options"].removeprefix("-csearch_path=")
        engine = create_engine(parsed.difference_update_query(["options"]))
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    if tmp.name.startswith("consentry-bench-"):
        shutil.rmtree(tmp, ignore_errors=True)


def report(title: str, rows: list[tuple[str, dict]], baseline: dict, connections: int) -> None:
    print(f"\n{title}  [{machine()}]")
    print(f"  load: {describe_load(connections)}")
    print(f"  {'':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'ratio':>6}")
    for name, r in [("bare Flask endpoint", baseline), *rows]:
        ratio = r["rps"] / baseline["rps"] if baseline["rps"] else float("nan")
        print(f"  {name:28} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['failures']:7d} {ratio:6.2f}")


def as_json(obj) -> bytes:
    return json.dumps(obj).encode()


def commit_ceiling(url: str, seconds: float = 2.0) -> float:
    """Durable commits per second of one tiny insert on the same database: the physical
    limit of any write that must be durable before it is acknowledged."""
    from sqlalchemy import text

    from consentry.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_ceiling (v VARCHAR(200))"))
    count = 0
    stop = time.perf_counter() + seconds
    start = time.perf_counter()
    with engine.connect() as conn:
        while time.perf_counter() < stop:
            with conn.begin():
                conn.execute(text("INSERT INTO bench_ceiling (v) VALUES (:v)"), {"v": "x" * 200})
            count += 1
    rate = count / (time.perf_counter() - start)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_ceiling"))
    engine.dispose()
    return rate


def engine_name(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


def measure_app(env: dict, request: Callable[[int, int], Request], connections: int,
                seconds: float, drain_url: str | None = None):
    """Serve the service on the database of `env`, with the scheduler (and so the audit
    sequencer) beside it as a deployment runs it, and load it with `request` (after a
    one-second warm-up). With `drain_url`: (figures, how the audit queue drained)."""
    with served("wsgi:app", env) as port, scheduler(env):
        load(port, request, connections, 1.0)
        figures = load(port, request, connections, seconds)
        if drain_url is None:
            return figures
        return figures, audit_queue_drain(drain_url)


def write_bench(description: str, title: str, label: str,
                make_request: Callable[[dict, int, int], Request]) -> None:
    """The common command line and report of a write benchmark against the bare endpoint.

    `make_request(headers, n, i)` builds request `i` of client thread `n`.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parse_bench_args(parser)

    url, env, key = prepare_database(args.database_url)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def request(n: int, i: int) -> Request:
        return make_request(headers, n, i)

    baseline = measure_bare(args.connections, args.seconds)
    writes, drain = measure_app(env, request, args.connections, args.seconds, drain_url=url)
    report(f"{title} ({engine_name(url)}, {server_settings()} and the scheduler, "
           f"{args.connections} connections)", [(label, writes)], baseline, args.connections)
    if drain is not None:
        print(f"  audit entries still queued when the load stopped: {drain[0]}, "
              f"sequenced {drain[1]:.2f} s later")
    ceiling = commit_ceiling(url)
    print(f"  durable single-row commits/s on this database (the fsync limit): {ceiling:.0f}; "
          f"writes reach {writes['rps'] / ceiling:.2f} of it")
    met = writes["rps"] >= 0.5 * baseline["rps"]
    print(f"  goal: ratio >= 0.5 -> {'met' if met else 'NOT met'}")
