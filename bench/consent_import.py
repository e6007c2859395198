"""Historical consent records imported per second, and the importer's peak memory (issue 15).

    .venv/bin/python -m bench.consent_import [--records 1000000] [--subjects-per 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Generates a JSONL file (each subject has `--subjects-per` records on average, one to
three choices each, a third with evidence), runs `flask --app wsgi consents import FILE`
as a child process into a freshly migrated database, and prints records/s and the
child's peak RSS (getrusage of the child). Then runs it again: a re-run finds every
record in and adds nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta

from bench.harness import BIN, ROOT, engine_name, machine, prepare_database

TARGET_RATE = 10_000  # records/s
TARGET_RSS_MB = 150  # for 1,000,000 records (issue 25)
PURPOSES = ("personalization", "marketing", "advertising", "analytics")
STATUSES = ("granted", "denied", "withdrawn")


def generate(path: str, records: int, per_subject: int) -> None:
    """Write `records` lines of JSONL, oldest first per subject."""
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with open(path, "w") as out:
        for i in range(records):
            choices = [{"purpose": PURPOSES[(i + k) % 4], "status": STATUSES[(i * 7 + k) % 3]}
                       for k in range(1 + i % 3)]
            record = {"subject_id": f"m-{i // per_subject}",
                      "recorded_at": (start + timedelta(seconds=i * 37)).isoformat(),
                      "jurisdiction": ("EU", "US-CA")[i % 2], "source": "old_cmp",
                      "choices": choices, "notice_version": "v7"}
            if i % 3 == 0:
                record["evidence"] = {"ip": f"198.51.{i % 250}.{i % 200}",
                                      "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}
            out.write(json.dumps(record) + "\n")


def _peak_rss_mb(pid: int) -> float | None:
    """The process's own peak RSS (VmHWM) in MB, or None without /proc.

    Not `wait4`'s `ru_maxrss`: Linux carries the high-water mark of the forked copy of
    the parent over the child's exec, so a child of a big parent (bench.targets, after it
    filled its stores) reports the parent's size, not its own."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_import(path: str, env: dict) -> tuple[float, float, str]:
    """Run the import as a child; return its seconds, peak RSS in MB and its last line.

    The peak is the child's VmHWM, read every 0.1 s while it runs (monotonic, so a late
    rise in the last 0.1 s is the only thing it can miss)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "consents", "import",
                                  path], cwd=ROOT, env={**os.environ, **env}, stdout=out,
                                 stderr=subprocess.DEVNULL)
        peak = None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak = _peak_rss_mb(child.pid) or peak
            time.sleep(0.1)
        child.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        out.seek(0)
        last = (out.read().strip().splitlines() or [""])[-1]
    if child.returncode != 0:
        raise SystemExit(f"import failed ({child.returncode}): {last}")
    return elapsed, peak if peak is not None else usage.ru_maxrss / 1024, last


def measure_import(env: dict, records: int, per_subject: int = 2,
                   again: bool = False) -> dict:
    """Import a generated file of `records` into the database of `env` (freshly
    migrated); its seconds, records/s, peak RSS (MB), JSONL size (MB) and last line, and
    with `again` the same of a second run of the same file as `again`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "records.jsonl")
        generate(path, records, per_subject)
        size = os.path.getsize(path) / 1e6
        seconds, rss, last = run_import(path, env)
        result = {"seconds": seconds, "rate": records / seconds, "rss_mb": rss,
                  "size_mb": size, "last": last}
        if again:
            seconds, rss, last = run_import(path, env)
            result["again"] = {"seconds": seconds, "rate": records / seconds, "rss_mb": rss,
                               "last": last}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--subjects-per", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    url, env, _key = prepare_database(args.database_url)
    first = measure_import(env, args.records, args.subjects_per, again=True)
    again = first["again"]
    rate, rss = first["rate"], first["rss_mb"]
    print(f"\nConsent import ({engine_name(url)}, {args.records:,} records, "
          f"{first['size_mb']:.0f} MB of JSONL)  [{machine()}]")
    print(f"  import: {first['seconds']:.1f} s = {rate:,.0f} records/s, peak RSS {rss:.0f} MB "
          f"({first['last']})")
    print(f"  re-run: {again['seconds']:.1f} s = {again['rate']:,.0f} records/s checked, peak "
          f"RSS {again['rss_mb']:.0f} MB ({again['last']})")
    print(f"  goal: >= {TARGET_RATE:,} records/s -> {'met' if rate >= TARGET_RATE else 'NOT met'}"
          f"; peak RSS <= {TARGET_RSS_MB} MB -> {'met' if rss <= TARGET_RSS_MB else 'NOT met'}"
          + ("" if args.records >= 1_000_000 else " (the RSS goal is for 1,000,000 records)"))


if __name__ == "__main__":
    main()
