"""Backups as docs/DEPLOYMENT.md says: a pg_basebackup of the primary plus the archived
WAL, restored into a fresh server, holds every write made after the base backup, and
the audit log exported from the restored data verifies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.cluster.conftest import ROOT, put_consent, record
from tests.cluster.harness import PG_BIN, _chown, free_port, wait_for

pytestmark = pytest.mark.cluster


def test_a_base_backup_and_the_wal_archive_restore_into_a_fresh_server_that_verifies(
        cluster, service, tmp_path):
    primary = wait_for("a primary", cluster.primary, 60)
    backup = cluster.root / f"base-{uuid.uuid4().hex[:6]}"
    cluster.run_as_postgres(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p",
                            str(primary.pg_port), "-U", "postgres", "-D", str(backup),
                            "-X", "stream", "-c", "fast", timeout=300)
    base = service.bases[0]
    after = [f"after-backup-{i}" for i in range(20)]
    for i, subject in enumerate(after):  # written after the base backup: only in the WAL
        code, _ = put_consent(base, service.admin, subject, f"after-{uuid.uuid4().hex}",
                              "granted" if i % 2 else "denied")
        assert code == 200
    wait_for("the audit queue to drain", lambda: cluster.psql(
        "SELECT count(*) FROM audit_queue") == "0", 60)
    expected = cluster.psql("SELECT count(*) FROM consent_events")
    head = cluster.psql("SELECT seq FROM audit_head")
    # The segment holding the last write is closed and must reach the archive too.
    last = cluster.psql("SELECT pg_walfile_name(pg_switch_wal())")
    wait_for(f"WAL segment {last} in the archive", lambda: (cluster.archive / last).exists(),
             60)

    # A fresh server on the backup: it replays the archive, then takes writes alone.
    restored = cluster.root / f"restored-{uuid.uuid4().hex[:6]}"
    shutil.copytree(backup, restored)
    for path in [restored, *restored.rglob("*")]:
        _chown(path)
    (restored / "recovery.signal").touch()
    _chown(restored / "recovery.signal")
    os.chmod(restored, 0o700)
    port = free_port()
    options = " ".join([
        f"-p {port}", f"-c unix_socket_directories={restored}",
        f"-c restore_command='cp {cluster.archive}/%f %p'",
        "-c recovery_target_action=promote", "-c archive_mode=off",
        "-c synchronous_standby_names=''", "-c primary_conninfo=''",
        f"-c hba_file={restored}/pg_hba.conf", f"-c ident_file={restored}/pg_ident.conf"])
    cluster.run_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(restored), "-o", options,
                            "-l", str(cluster.root / "restored.log"), "-w", "-t", "120",
                            "start", timeout=180)
    try:
        def query(sql: str) -> str:
            return subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port),
                                   "-U", "postgres", "-d", "consentry", "-Atc", sql],
                                  capture_output=True, text=True, check=True).stdout.strip()

        wait_for("recovery to end", lambda: query("SELECT pg_is_in_recovery()") == "f", 120)
        assert query("SELECT count(*) FROM consent_events") == expected
        assert query("SELECT seq FROM audit_head") == head
        restored_env = {**service.env, "CONSENTRY_DATABASE_URL":
                        f"postgresql+psycopg://postgres@127.0.0.1:{port}/consentry"}
        bundle = tmp_path / "restored-audit.zip"

        def flask(*args):
            return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                                  cwd=ROOT, env=restored_env, capture_output=True, text=True,
                                  timeout=300)

        exported = flask("audit", "export", "--out", str(bundle), "--reason", "restore drill")
        assert exported.returncode == 0, exported.stderr[-2000:]
        verified = flask("audit", "verify", str(bundle))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        record("backup_restore", events=int(expected), audit_head=int(head),
               written_after_base_backup=len(after))
    finally:
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(restored), "-m", "immediate",
                        "stop"], capture_output=True, **_postgres())


def _postgres() -> dict:
    from tests.cluster.harness import _as_postgres

    return _as_postgres()
