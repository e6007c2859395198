"""The scheduler process: the one place jobs run (never in web workers).

Domains register module-level jobs with `register_job`; `flask --app wsgi scheduler`
runs them with APScheduler, `max_instances=1`, each under a database lease so a
second scheduler on any host skips a job the first one is running.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from consentry import leases
from consentry.db import get_db

log = logging.getLogger("consentry.scheduler")


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[Flask, str], None]
    trigger: str  # "cron:<expr>", "interval:<seconds>" or a crontab line
    lease_seconds: float = 300


def register_job(app: Flask, job: Job) -> None:
    """Add a job the scheduler process will run."""
    app.extensions.setdefault("consentry.jobs", {})[job.id] = job


def holder_id() -> str:
    """A name for this process, unique across hosts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_leased(app: Flask, job: Job, holder: str) -> bool:
    """Run `job` if this process can take its lease; True if it ran."""
    db = get_db(app)
    lease = f"job:{job.id}"
    with app.app_context():
        # Tried again when it fails to serialize: another scheduler asked at the same time.
        if not db.run(lambda session: leases.acquire(session, lease, holder,
                                                     job.lease_seconds)):
            log.info("job %s skipped: another scheduler holds its lease", job.id)
            return False
        try:
            job.func(app, holder)
        finally:
            db.run(lambda session: leases.release(session, lease, holder))
    return True


def _trigger(app: Flask, spec: str):
    kind, _, value = spec.partition(":")
    if kind == "interval":
        return IntervalTrigger(seconds=float(value))
    if kind == "cron":
        return CronTrigger.from_crontab(value, timezone="UTC")
    return CronTrigger.from_crontab(spec, timezone="UTC")


def run_scheduler(app: Flask, stop: threading.Event | None = None) -> None:
    """Run every registered job on its trigger until SIGTERM/SIGINT (or `stop` is set)."""
    stop = stop or threading.Event()
    holder = holder_id()
    scheduler = BackgroundScheduler(timezone="UTC")
    jobs: dict[str, Job] = app.extensions.get("consentry.jobs", {})
    for job in jobs.values():
        scheduler.add_job(run_leased, _trigger(app, job.trigger), args=(app, job, holder),
                          id=job.id, max_instances=1, coalesce=True, misfire_grace_time=300)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    log.info("scheduler %s started with %d job(s): %s", holder, len(jobs),
             ", ".join(sorted(jobs)) or "none")
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        log.info("scheduler %s stopped", holder)
