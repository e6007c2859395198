"""Every target of issue 25 in one run, each next to its baseline of the same run.

    .venv/bin/python -m bench.targets [--quick] [--db sqlite|postgresql|both]
        [--measures writes,decisions,batch,import,lookups] [--threads N]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Prints one table: measure, figure, baseline in the same run, ratio, target, met. The
service and the bare Flask app (bench/bare_app.py) are served alike (gunicorn, 2 sync
workers; `--threads N`: 2 gthread workers of N threads) and loaded at 16 connections by
wrk (`-t1`, as issue 15 measured; Python threads when wrk is not installed, whose ratios
come out about twice as high: see bench/harness.py); the header says which. Each measure
reuses the bench that owns it:

- consent writes (bench/consent_writes.py) against bare PUT, and against the durable
  commit ceiling of the same database (`harness.commit_ceiling`);
- the gate's single lookup and `GET .../consents` (bench/signal_gate.py) against bare
  GET, and the gate's p99;
- decisions batched (bench/decision_batch.py) and single (bench/decision_writes.py);
- import (bench/consent_import.py): records/s and the importer's peak RSS;
- lookup cost flat: the gate's lookup and the consent read with 1,000,000 subjects and
  10,000,000 events against 10,000 subjects and 100,000 events (bench/populate.py fills
  and caches both under var/bench/), two interleaved rounds, each with its own bare GET
  (the ratios are against the bare GET of the round), the better of each taken.

`--quick` (a check that it all runs, not figures to quote): 3-second loads, 100,000
import records, and 100,000 subjects / 1,000,000 events for the large store.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.consent_import import TARGET_RATE, TARGET_RSS_MB, measure_import
from bench.consent_writes import consent_write
from bench.decision_batch import TARGET as BATCH_TARGET
from bench.decision_batch import measure_batches
from bench.decision_writes import decision
from bench.harness import (
    commit_ceiling,
    describe_load,
    discard_database,
    machine,
    measure_app,
    measure_bare,
    parse_bench_args,
    prepare_database,
    server_settings,
)
from bench.harness import served as serve
from bench.populate import describe, ledger_store, warm
from bench.signal_gate import CONSENT_READ, GATE_LOOKUP, single_lookups

CONNECTIONS = 16
MEASURES = ("writes", "decisions", "batch", "import", "lookups")
SMALL = 10_000
EVENTS_PER_SUBJECT = 10


class Table:
    """The rows of the report, printed as they come and all together at the end."""

    def __init__(self):
        self.rows: list[dict] = []
        self.started = time.perf_counter()

    def add(self, engine: str, measure: str, figure: str, baseline: str, ratio: float | None,
            target: str, met: bool | None, note: str = "") -> None:
        row = {"engine": engine, "measure": measure, "figure": figure, "baseline": baseline,
               "ratio": ratio, "target": target, "met": met, "note": note}
        self.rows.append(row)
        print(f"  .. [{time.perf_counter() - self.started:4.0f} s] {engine}: {measure}: "
              f"{figure} (target {target}) "
              f"{_met(met)}{' ' + note if note else ''}", flush=True)

    def print(self, header: str) -> None:
        cols = [("engine", 10), ("measure", 34), ("figure", 24), ("baseline, same run", 29),
                ("ratio", 6), ("target", 20), ("met", 4)]
        print(f"\n{header}")
        print("  " + " ".join(f"{name:<{width}}" for name, width in cols))
        print("  " + " ".join("-" * width for _, width in cols))
        for r in self.rows:
            ratio = f"{r['ratio']:.3f}" if r["ratio"] is not None else "-"
            values = [r["engine"], r["measure"], r["figure"], r["baseline"], ratio,
                      r["target"], _met(r["met"])]
            print("  " + " ".join(f"{v:<{w}}" for v, (_, w) in zip(values, cols, strict=True)))
        notes = [(i, r["note"]) for i, r in enumerate(self.rows, 1) if r["note"]]
        for _, note in notes:
            print(f"  note: {note}")


def _met(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def _rps(r: dict) -> str:
    """Answers below 400 a second (ratios use the same), and the failures if any."""
    fails = f", {r['failures']} failed" if r["failures"] else ""
    return f"{r['ok_rps']:,.0f} req/s{fails}"


def _against_bare(table: Table, name: str, database_url: str | None, seconds: float,
                  method: str, make_request, measure: str, target: float,
                  ceiling_target: float | None = None) -> None:
    """One write measure on a fresh database against the bare endpoint of `method` (and,
    with `ceiling_target`, against the durable commit ceiling of the same database)."""
    url, env, key = prepare_database(database_url)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bare = measure_bare(CONNECTIONS, seconds, method)
    served = measure_app(env, lambda n, i: make_request(headers, n, i), CONNECTIONS, seconds)
    ratio = served["ok_rps"] / bare["ok_rps"]
    table.add(name, measure, _rps(served), f"bare {method} {_rps(bare)}", ratio,
              f">= {target}x bare {method}", ratio >= target)
    if ceiling_target is not None:
        ceiling = commit_ceiling(url)
        ratio = served["ok_rps"] / ceiling
        table.add(name, measure + " vs commits", _rps(served),
                  f"durable commits {ceiling:,.0f}/s", ratio,
                  f">= {ceiling_target}x commits", ratio >= ceiling_target)
    discard_database(url, env)


def run_engine(table: Table, database_url: str | None, quick: bool, seconds: float,
               measures: set[str] = frozenset(MEASURES)) -> None:
    """The measures (every one by default) on one engine (SQLite when `database_url` is
    None)."""
    name = "PostgreSQL" if database_url else "SQLite"

    # consent writes vs bare PUT, then single decisions vs bare POST (each on a fresh
    # database, so the writes of one do not weigh on the other)
    if "writes" in measures:
        _against_bare(table, name, database_url, seconds, "PUT", consent_write,
                      "consent writes, PUT /consents", 0.2, ceiling_target=0.4)
    if "decisions" in measures:
        _against_bare(table, name, database_url, seconds, "POST", decision,
                      "decisions single, POST /decisions", 0.3)
    if "batch" in measures:
        _batched(table, name, database_url, seconds)
    if "import" in measures:
        _imported(table, name, database_url, quick)
    if "lookups" in measures:
        _lookups(table, name, database_url, quick, seconds)


def _batched(table: Table, name: str, database_url: str | None, seconds: float) -> None:
    url, env, key = prepare_database(database_url)
    batched = measure_batches(env, key, seconds)
    discard_database(url, env)
    rate = batched["decisions_per_s"]
    fails = f", {batched['failures']} batches failed" if batched["failures"] else ""
    table.add(name, "decisions batched, x1000, 4 conn", f"{rate:,.0f} decisions/s{fails}",
              "-", None,
              f">= {BATCH_TARGET:,}/s", rate >= BATCH_TARGET)


def _imported(table: Table, name: str, database_url: str | None, quick: bool) -> None:
    records = 100_000 if quick else 1_000_000
    url, env, key = prepare_database(database_url)
    imported = measure_import(env, records)
    discard_database(url, env)
    table.add(name, f"import, {records:,} records", f"{imported['rate']:,.0f} records/s",
              "-", None, f">= {TARGET_RATE:,}/s", imported["rate"] >= TARGET_RATE)
    table.add(name, f"import peak RSS, {records:,} rec", f"{imported['rss_mb']:.0f} MB",
              "-", None, f"<= {TARGET_RSS_MB} MB for 1M", imported["rss_mb"] <= TARGET_RSS_MB,
              "quick: the import ran 100,000 records; the RSS target is for 1,000,000"
              if quick else "")


def _lookups(table: Table, name: str, database_url: str | None, quick: bool,
             seconds: float) -> None:
    """The gate's lookup and the consent read: against bare GET, and small store vs large."""
    large_subjects = 100_000 if quick else 1_000_000
    started = time.perf_counter()
    small = ledger_store(database_url, SMALL, EVENTS_PER_SUBJECT)
    large = ledger_store(database_url, large_subjects, EVENTS_PER_SUBJECT)
    print(f"  .. [{time.perf_counter() - table.started:4.0f} s] {name}: stores ready in "
          f"{time.perf_counter() - started:.0f} s: small {describe(small)}; large "
          f"{describe(large)}", flush=True)
    warmed = sum(warm(store) for store in (small, large))
    print(f"  .. [{time.perf_counter() - table.started:4.0f} s] {name}: both stores' states "
          f"read once to warm them ({warmed:.0f} s)", flush=True)
    best: dict[tuple[str, str], dict] = {}
    bare_runs = []
    for _ in range(2):  # interleaved, the better of two: neither gets the warmer machine
        # the bare endpoint in each round too: on a shared machine it moves by a third
        # between minutes, and a ratio is only fair against the baseline of its round
        bare_runs.append(measure_bare(CONNECTIONS, seconds, "GET"))
        for store in (small, large):
            with serve("wsgi:app", store.env) as port:
                for kind, path in (("gate", GATE_LOOKUP), ("consents", CONSENT_READ)):
                    r = single_lookups(port, store.key, store.subjects, CONNECTIONS, seconds,
                                       path)
                    r = {**r, "bare": bare_runs[-1]}
                    was = best.get((kind, store.url))
                    if was is None or r["ok_rps"] > was["ok_rps"]:
                        best[kind, store.url] = r
    gate = best["gate", small.url]
    bare_get = gate["bare"]  # the round the gate did best in
    ratio = gate["ok_rps"] / bare_get["ok_rps"]
    table.add(name, f"gate lookup, {SMALL:,} subjects", _rps(gate), f"bare GET {_rps(bare_get)}",
              ratio, ">= 0.8x bare GET", ratio >= 0.8)
    table.add(name, f"gate lookup p99, {CONNECTIONS} conn", f"{gate['p99_ms']:.1f} ms", "-",
              None, "<= 8 ms", gate["p99_ms"] <= 8)
    consents = best["consents", small.url]
    ratio = consents["ok_rps"] / consents["bare"]["ok_rps"]
    table.add(name, f"GET /consents, {SMALL:,} subjects", _rps(consents),
              f"bare GET {_rps(consents['bare'])}", ratio, ">= 0.5x bare GET", ratio >= 0.5)
    scale = f"{large.subjects // 1000:,}k subj/{large.events // 1_000_000:,}M ev"
    for kind, label in (("gate", "gate lookup"), ("consents", "GET /consents")):
        at_small, at_large = best[kind, small.url], best[kind, large.url]
        ratio = at_large["ok_rps"] / at_small["ok_rps"]
        table.add(name, f"{label}, {scale}", _rps(at_large),
                  f"10k subj/100k ev {_rps(at_small)}", ratio, ">= 0.9x 10k subjects",
                  ratio >= 0.9,
                  "quick: the large store held 100,000 subjects / 1,000,000 events; the "
                  "target is for 1,000,000 / 10,000,000" if quick and kind == "gate"
                  else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="short loads and smaller volumes: proves it runs")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="the PostgreSQL server to use (each measure in its own schema)")
    parser.add_argument("--measures", default=",".join(MEASURES),
                        help=f"which of {', '.join(MEASURES)} to run (default: all)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds of each load (default 8; 3 with --quick)")
    args = parse_bench_args(parser)
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    measures = set(args.measures.split(","))
    if not measures <= set(MEASURES):
        parser.error(f"--measures: choose among {', '.join(MEASURES)}")
    mode = "QUICK: smaller volumes, not figures to quote" if args.quick else "full"
    header = (f"Issue 25 targets ({mode}; {server_settings()}, {CONNECTIONS} "
              f"connections, {seconds:g} s loads)\n  machine: {machine()}\n"
              f"  load: {describe_load(CONNECTIONS)}")
    print(header, flush=True)
    table = Table()
    started = time.perf_counter()
    urls = {"sqlite": [None], "postgresql": [args.database_url],
            "both": [None, args.database_url]}[args.db]
    for url in urls:
        run_engine(table, url, args.quick, seconds, measures)
    table.print(header)
    print(f"  took {time.perf_counter() - started:.0f} s")
    print(json.dumps({"machine": machine(), "load": describe_load(CONNECTIONS),
                      "server": server_settings(),
                      "quick": args.quick, "rows": table.rows}))


if __name__ == "__main__":
    main()
