"""Export and verify speed of audit bundles, each next to a plain SHA-256 chain.

    .venv/bin/python bench/audit_export.py [--entries 1000000] [--keep DIR]

Builds a log of N entries in a fresh SQLite database (chained exactly as
`append_entry` does, inserted in bulk), then in separate processes (so each
peak RSS is its own): exports a bundle through the service, verifies it with the
offline verifier, and runs a plain SHA-256 chain over the same entry bytes — the
physical limit either could reach in Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    """Peak RSS of this process image (VmHWM: unlike ru_maxrss it restarts at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _config(work: Path) -> dict:
    return {"DATABASE_URL": f"sqlite:///{work / 'bench.db'}", "SECRETS_DIR": str(work / "secrets"),
            "AUDIT_EXPORT_DIR": str(work / "exports"), "RECORD_POLICY_ON_START": False,
            "LOG_LEVEL": "WARNING"}


def populate(work: Path, n: int) -> None:
    """Write n chained entries in bulk (the chain is the one append_entry builds)."""
    from sqlalchemy import insert, update

    from audit.chain import GENESIS_HASH, entry_document, entry_hash
    from audit.models import AuditEntry, AuditHead
    from consentry import create_app, migrate
    from consentry.db import get_db

    config = _config(work)
    migrate.upgrade(config["DATABASE_URL"])
    app = create_app(config)
    store = app.extensions["consentry.secrets"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    actions = ["consent.recorded", "decision.recorded", "signals.evaluated", "policy.loaded"]
    refs = [store.subject_ref(f"u-{i}") for i in range(5000)]
    batch: list[dict] = []
    db = get_db(app)
    with app.app_context():
        for seq in range(1, n + 1):
            ts = start + timedelta(milliseconds=37 * seq)
            details = {"purpose": "personalization", "category": "behavioral",
                       "status": "granted" if seq % 3 else "denied", "source": "preference_center",
                       "notice_version": "2026-11", "request_id": f"{seq:032x}"}
            ref = refs[seq % len(refs)]
            action = actions[seq % len(actions)]
            digest = entry_hash(entry_document(seq, ts, "svc-preference-center", action, ref,
                                               details, prev))
            batch.append({"seq": seq, "ts": ts, "actor": "svc-preference-center",
                          "action": action, "subject_ref": ref, "details": details,
                          "prev_hash": prev, "entry_hash": digest})
            prev = digest
            if len(batch) == 20_000 or seq == n:
                with db.transaction() as s:
                    s.execute(insert(AuditEntry), batch)
                batch = []
        with db.transaction() as s:
            s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=n, entry_hash=prev))


def phase_export(work: Path) -> dict:
    from audit.export import ExportRequest, export_bundle
    from consentry import create_app
    from consentry.db import get_db
    from consentry.secretstore import get_keys

    app = create_app(_config(work))
    out = work / "bundle.zip"
    started = time.perf_counter()
    record = export_bundle(get_db(app), get_keys(app),
                           ExportRequest(exporter="bench", reason="bench"), out=out)
    seconds = time.perf_counter() - started
    return {"entries": record.count, "seconds": seconds, "rss_mb": _rss_mb(),
            "bytes": out.stat().st_size}


def phase_verify(work: Path) -> dict:
    from audit.verify import load_public_keys, verify_bundle

    keys_file = work / "keys.json"
    keys = load_public_keys(str(keys_file))
    started = time.perf_counter()
    report = verify_bundle(str(work / "bundle.zip"), keys)
    seconds = time.perf_counter() - started
    assert report.exit_code == 0, report.findings[:5]
    return {"entries": report.count, "seconds": seconds, "rss_mb": _rss_mb()}


def phase_chain(work: Path) -> dict:
    """A plain SHA-256 chain over the same entry bytes, read from the bundle like the verifier."""
    sha256 = hashlib.sha256
    started = time.perf_counter()
    prev = b""
    count = 0
    rest = b""
    with zipfile.ZipFile(work / "bundle.zip") as z, z.open("entries.jsonl") as f:
        while block := f.read(1 << 20):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                prev = sha256(prev + line).digest()
            count += len(lines)
    seconds = time.perf_counter() - started
    return {"entries": count, "seconds": seconds, "rss_mb": _rss_mb()}


def _child(phase: str, work: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, "--work", str(work)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", help="work in this directory and keep it")
    parser.add_argument("--phase", choices=["export", "verify", "chain"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        result = {"export": phase_export, "verify": phase_verify,
                  "chain": phase_chain}[args.phase](Path(args.work))
        print(json.dumps(result))
        return
    tmp = None
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="consentry-bench-")
        work = Path(tmp.name)
    try:
        started = time.perf_counter()
        populate(work, args.entries)
        print(f"populated {args.entries:,} entries in {time.perf_counter() - started:.1f}s "
              f"(SQLite, {(work / 'bench.db').stat().st_size / 1e6:.0f} MB)")
        export = _child("export", work)
        from consentry.secretstore import SecretStore

        store = SecretStore(work / "secrets")
        store.reload()
        (work / "keys.json").write_text(json.dumps(store.jwks()))
        verify = _child("verify", work)
        chain = _child("chain", work)
        n = export["entries"]
        rate = lambda r: r["entries"] / r["seconds"]  # noqa: E731
        print(f"bundle: {export['bytes'] / 1e6:.0f} MB for {n:,} entries")
        print(f"{'':8}{'entries/s':>12}{'plain SHA-256 chain':>22}{'peak RSS':>12}")
        print(f"{'export':8}{rate(export):>12,.0f}{rate(chain):>22,.0f}"
              f"{export['rss_mb']:>10.0f}MB")
        print(f"{'verify':8}{rate(verify):>12,.0f}{rate(chain):>22,.0f}"
              f"{verify['rss_mb']:>10.0f}MB")
        print(f"{'chain':8}{'':>12}{rate(chain):>22,.0f}{chain['rss_mb']:>10.0f}MB")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
