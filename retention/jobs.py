"""The retention domain's scheduled jobs: the purge on its schedule, and the poll that
picks up queued runs and erasures within seconds."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from consentry.clock import utcnow
from consentry.db import get_db
from consentry.scheduler import Job
from retention import service
from retention.runner import Runner

log = logging.getLogger("consentry.retention")


def schedule_slot(spec: str, now: datetime) -> datetime:
    """The fire time of `spec` this moment belongs to: the latest at or before `now`."""
    kind, _, value = spec.partition(":")
    if kind == "interval":
        seconds = float(value)
        return datetime.fromtimestamp(int(now.timestamp() // seconds * seconds), UTC)
    trigger = CronTrigger.from_crontab(value if kind == "cron" else spec, timezone="UTC")
    horizon = now + timedelta(seconds=1)  # a job may start a hair after its fire time
    for lookback in (timedelta(hours=1), timedelta(days=1), timedelta(days=32),
                     timedelta(days=367)):
        probe = trigger.get_next_fire_time(None, now - lookback)
        slot = None
        while probe is not None and probe <= horizon:
            slot = probe
            probe = trigger.get_next_fire_time(probe, probe + timedelta(seconds=1))
        if slot is not None:
            return slot.astimezone(UTC)
    return now


def purge_job(app: Flask, holder: str) -> None:
    """The scheduled purge: queue this slot's run (once across schedulers) and run it."""
    slot = schedule_slot(app.config["RETENTION_CRON"], utcnow())
    runner = Runner(app, f"{holder}:purge", "job:retention-purge", holder)
    with get_db(app).transaction() as session:
        run = service.queue_scheduled_run(session, runner.keys, runner.known_targets, slot)
    if run is None:
        log.info("scheduled purge for %s already queued by another scheduler", slot)
        return
    _work(runner)


def poll_job(app: Flask, holder: str) -> None:
    """Pick up queued runs and erasures within seconds of their request."""
    _work(Runner(app, f"{holder}:poll", "job:retention-poll", holder))


def _work(runner: Runner) -> None:
    if not runner.acquire():
        return  # another runner is busy; the queue waits for it or the next poll
    try:
        runner.process_queue()
    finally:
        runner.release()


def retention_jobs(config) -> list[Job]:
    """The retention domain's jobs: the scheduled purge and the queue poll."""
    lease = float(config["RETENTION_LEASE_SECONDS"])
    return [Job("retention-purge", purge_job, config["RETENTION_CRON"], lease_seconds=lease),
            Job("retention-poll", poll_job,
                f"interval:{float(config['SCHEDULER_POLL_SECONDS'])}", lease_seconds=lease)]

