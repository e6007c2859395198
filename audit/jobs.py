"""The audit domain's scheduled job: signing checkpoints (the only place besides exports
that signs them; appends never do)."""

from __future__ import annotations

from flask import Flask

from audit.checkpoints import create_checkpoint
from consentry.db import get_db
from consentry.scheduler import Job
from consentry.secretstore import get_keys


def checkpoint_job(app: Flask, _holder: str) -> None:
    """Sign a checkpoint if entries were appended since the last one."""
    with get_db(app).transaction() as session:
        create_checkpoint(session, get_keys(app), reason="interval")


def audit_jobs(config) -> list[Job]:
    """The audit domain's jobs."""
    return [Job("audit-checkpoint", checkpoint_job, config["AUDIT_CHECKPOINT_TRIGGER"],
                lease_seconds=600)]
