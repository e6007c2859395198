"""The audit domain's scheduled jobs: sequencing queued entries, signing checkpoints (the
only place besides exports that signs them; appends never do), and writing the queued
export bundles."""

from __future__ import annotations

import logging
import time

from flask import Flask
from sqlalchemy import select

from audit import export_jobs
from audit.checkpoints import create_checkpoint
from audit.export import SUBJECT_ACCESS, SUBJECT_FILES, export_bundle
from audit.models import AuditExport, AuditExportJob, AuditQueued
from audit.service import BATCH, integrate
from consentry import leases, queue
from consentry.db import Database, get_db
from consentry.policy import get_policy
from consentry.scheduler import Job
from consentry.secretstore import get_keys

log = logging.getLogger("consentry.audit")

EXPORTER_LEASE = "audit:exporter"
# The exporter renews its lease (and the job's heartbeat) while a bundle streams.
EXPORTER_LEASE_SECONDS = 300.0
RENEW_EVERY_SECONDS = 5.0


SEQUENCER_LEASE = "audit:sequencer"
# A sequencer that dies is replaced by the next one to ask after its lease lapses.
SEQUENCER_LEASE_SECONDS = 10.0
# The scheduler starts the sequencer every second; each run polls for a little less,
# so runs follow each other without APScheduler skipping one that is still running.
SEQUENCER_TRIGGER = "interval:1"
SEQUENCER_RUN_SECONDS = 0.75
# Tries of one sequencer transaction that fails to serialize (DB_ISOLATION=serializable).
SEQUENCE_ATTEMPTS = 30


def sequence_batch(db: Database) -> int:
    """One sequencer transaction (up to audit.service.BATCH entries), tried again when it
    fails to serialize; how many entries it integrated."""
    # a cheap look first: no write lock
    if db.run(lambda session: session.scalar(select(AuditQueued.id).limit(1)),
              write=False, attempts=SEQUENCE_ATTEMPTS) is None:
        return 0
    return db.run(lambda session: len(integrate(session)), attempts=SEQUENCE_ATTEMPTS)


def run_sequencer(app: Flask, holder: str = "sequencer", budget_seconds: float = 0.0,
                  interval: float | None = None) -> int:
    """Integrate queued audit entries under the sequencer lease: until the queue is empty,
    and then, for `budget_seconds`, every `interval` (AUDIT_SEQUENCE_SECONDS) again.

    The lease keeps one sequencer busy at a time across processes and hosts (the head
    lock alone would keep them correct, not idle); a dead holder's lease lapses after
    SEQUENCER_LEASE_SECONDS. Returns how many entries it integrated (0 when another
    sequencer holds the lease).
    """
    db = get_db(app)
    interval = float(app.config["AUDIT_SEQUENCE_SECONDS"]) if interval is None else interval
    if not db.run(lambda session: leases.acquire(session, SEQUENCER_LEASE, holder,
                                                 SEQUENCER_LEASE_SECONDS)):
        return 0
    done = 0
    started = renewed = time.monotonic()
    try:
        while True:
            count = sequence_batch(db)
            done += count
            now = time.monotonic()
            if now - renewed > SEQUENCER_LEASE_SECONDS / 3:
                if not db.run(lambda session: leases.acquire(session, SEQUENCER_LEASE, holder,
                                                             SEQUENCER_LEASE_SECONDS)):
                    raise RuntimeError("lost the audit sequencer lease")
                renewed = now
            if count >= BATCH:  # a full batch: more are queued, no sleep
                continue
            if now - started >= budget_seconds:
                return done  # no budget: once the queue is drained
            # Drained: let the next writes gather into one batch. Integrating each entry
            # as it arrives cost a write transaction (SQLite's write lock, an fsync) per
            # one or two entries, taken from the writers it serves.
            time.sleep(interval)
    finally:
        db.run(lambda session: leases.release(session, SEQUENCER_LEASE, holder))


def sequencer_job(app: Flask, holder: str) -> None:
    """The scheduler's sequencer: poll every AUDIT_SEQUENCE_SECONDS for a few seconds a run."""
    run_sequencer(app, f"{holder}:sequencer", budget_seconds=SEQUENCER_RUN_SECONDS)


def inline_sequencer(app: Flask):
    """The `after_commit` callback of AUDIT_SEQUENCE_INLINE: sequence what a transaction
    queued as soon as it committed (without the lease: the head lock keeps it exact)."""
    db = get_db(app)

    def sequence() -> None:
        while sequence_batch(db):
            pass

    return sequence


def checkpoint_job(app: Flask, _holder: str) -> None:
    """Sign a checkpoint if entries were appended since the last one."""
    with get_db(app).transaction() as session:
        create_checkpoint(session, get_keys(app), reason="interval")


def run_export_queue(app: Flask, holder: str = "exporter",
                     budget_seconds: float = 3600) -> int:
    """Write the queued export bundles, oldest first, under the exporter lease.

    Exports left running by a dead exporter are queued again first. Returns how many
    jobs were carried out (0 when another exporter holds the lease).
    """
    db, keys = get_db(app), get_keys(app)
    out = app.config["AUDIT_EXPORT_DIR"]
    if not db.run(lambda session: leases.acquire(session, EXPORTER_LEASE, holder,
                                                 EXPORTER_LEASE_SECONDS)):
        return 0
    done = 0
    try:
        with db.transaction() as session:
            for job_id in export_jobs.requeue_dead_exports(session, keys):
                log.warning("export %s left running by a dead exporter; queued again", job_id)
        started = time.monotonic()
        while time.monotonic() - started < budget_seconds:
            with db.transaction() as session:
                job = export_jobs.claim_export(session, holder)
                if job is None:
                    break
                job_id, request = job.id, export_jobs.job_request(job)
                written = session.get(AuditExport, job_id)  # its exporter died after writing
                if written is not None:
                    export_jobs.finish_export(job, written)
                    done += 1
                    continue
            try:
                export_bundle(db, keys, request, out=out, export_id=job_id,
                              progress=_renewer(app, holder, job_id),
                              attach=_attachments(app, request))
                with db.transaction() as session:
                    export_jobs.finish_export(session.get(AuditExportJob, job_id),
                                              session.get(AuditExport, job_id))
            except Exception as exc:
                log.exception("export %s failed", job_id)
                with db.transaction() as session:
                    export_jobs.fail_export(session, keys, session.get(AuditExportJob, job_id),
                                            f"{type(exc).__name__}: {exc}"[:500])
            done += 1
    finally:
        db.run(lambda session: leases.release(session, EXPORTER_LEASE, holder))
    return done


def _attachments(app: Flask, request):
    """The builder of a subject access bundle's own files, bound to its subject; None for
    an audit export. app.py registers it (audit imports neither consent nor retention)."""
    if request.kind != SUBJECT_ACCESS:
        return None
    build, keys, policy = app.extensions[SUBJECT_FILES], get_keys(app), get_policy(app)
    return lambda session, entries: build(session, keys, policy, request.subject_id, entries)


def _renewer(app: Flask, holder: str, job_id: str):
    """A progress callback renewing the exporter lease and the job's heartbeat."""
    last = time.monotonic()

    def renew(_entries: int) -> None:
        nonlocal last
        if time.monotonic() - last < RENEW_EVERY_SECONDS:
            return
        last = time.monotonic()
        with get_db(app).transaction() as session:
            if not leases.acquire(session, EXPORTER_LEASE, holder, EXPORTER_LEASE_SECONDS):
                raise RuntimeError("lost the audit exporter lease")
            job = session.get(AuditExportJob, job_id)
            if job is not None:
                queue.heartbeat(job)

    return renew


def export_job(app: Flask, holder: str) -> None:
    """Pick up queued exports within seconds of their request."""
    run_export_queue(app, f"{holder}:exports")


def audit_jobs(config) -> list[Job]:
    """The audit domain's jobs: the sequencer, checkpoints on their trigger, and the
    export queue."""
    return [Job("audit-sequencer", sequencer_job, SEQUENCER_TRIGGER,
                lease_seconds=SEQUENCER_LEASE_SECONDS + SEQUENCER_RUN_SECONDS),
            Job("audit-checkpoint", checkpoint_job, config["AUDIT_CHECKPOINT_TRIGGER"],
                lease_seconds=600),
            Job("audit-exports", export_job,
                f"interval:{float(config['SCHEDULER_POLL_SECONDS'])}",
                lease_seconds=EXPORTER_LEASE_SECONDS)]
