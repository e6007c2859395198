"""Wire the audit domain into the app: configuration, the `audit` CLI group, the checkpoint job.

Kept out of `audit/__init__` so the offline verifier never imports Flask.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from audit import export_store
from audit.checkpoints import create_checkpoint
from audit.export import ExportRequest, count_entries, export_bundle
from audit.verify import Unusable, load_public_keys, render, verify_bundle
from consentry.db import get_db
from consentry.errors import DomainError
from consentry.scheduler import Job, register_job
from consentry.signing import keys_by_kid
from consentry.stores import register_store

audit_cli = AppGroup("audit", help="The audit log: checkpoints, export bundles, verification.")


def _timestamp(_ctx, param, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time", param=param) \
            from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@audit_cli.command("export")
@click.option("--since", callback=_timestamp, help="First moment included (ISO 8601, UTC).")
@click.option("--until", callback=_timestamp, help="First moment excluded (ISO 8601, UTC).")
@click.option("--subject-id", help="Only this subject's entries (each with its proof).")
@click.option("--action", help="Only entries with this action (each with its proof).")
@click.option("--reason", default="", help="Why the export is made; recorded in the bundle.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Bundle to write.")
def export_command(since, until, subject_id, action, reason, fmt, out) -> None:
    """Write a signed export bundle to --out, with a progress bar."""
    request = ExportRequest(exporter=f"cli:{getpass.getuser()}", reason=reason, since=since,
                            until=until, subject_id=subject_id, action=action, format=fmt)
    try:
        with get_db().transaction(write=False) as session:
            total = count_entries(session, request)
        with click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
            record = export_bundle(request, out=out, progress=bar.update)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"wrote {record.count} entries to {out} (export {record.id}, "
               f"checkpoint at tree size {record.checkpoint_size})")


@audit_cli.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--public-key", help="Published keys (JWKS, JWK or PEM); default: this service's.")
@click.option("--previous-checkpoint", type=click.Path(dir_okay=False),
              help="checkpoint.json of an earlier bundle this one must extend.")
def verify_command(bundle, public_key, previous_checkpoint) -> None:
    """Check a bundle offline; exit 0 intact, 1 tampered, 2 unusable."""
    import json

    try:
        keys = (load_public_keys(public_key) if public_key
                else keys_by_kid(current_app.extensions["consentry.secrets"].jwks()))
        previous = (json.loads(Path(previous_checkpoint).read_bytes())
                    if previous_checkpoint else None)
    except (Unusable, OSError, ValueError) as exc:
        click.echo(f"UNUSABLE: {exc}")
        sys.exit(2)
    report = verify_bundle(bundle, keys, previous)
    click.echo(render(report))
    sys.exit(report.exit_code)


@audit_cli.command("checkpoint")
def checkpoint_command() -> None:
    """Sign a checkpoint of the log as it stands now."""
    with get_db().transaction() as session:
        checkpoint = create_checkpoint(session, reason="manual")
    click.echo(f"tree size {checkpoint.tree_size} root {checkpoint.root_hash} "
               f"key {checkpoint.kid}")


def checkpoint_job(app: Flask, _holder: str) -> None:
    """Sign a checkpoint if entries were appended since the last one."""
    with app.app_context(), get_db(app).transaction() as session:
        create_checkpoint(session, reason="interval")


def init_app(app: Flask) -> None:
    """Configure exports and checkpoints, add the `audit` commands and the checkpoint job."""
    env = os.environ
    app.config.setdefault("AUDIT_EXPORT_DIR", env.get("CONSENTRY_AUDIT_EXPORT_DIR")
                          or str(Path("var/exports").resolve()))
    app.config.setdefault("AUDIT_CHECKPOINT_EVERY",
                          int(env.get("CONSENTRY_AUDIT_CHECKPOINT_EVERY", 10_000)))
    app.config.setdefault("AUDIT_CHECKPOINT_TRIGGER",
                          env.get("CONSENTRY_AUDIT_CHECKPOINT_TRIGGER", "interval:300"))
    app.config.setdefault("AUDIT_EXPORT_KEEP_DAYS",
                          int(env.get("CONSENTRY_AUDIT_EXPORT_KEEP_DAYS", 30)))
    register_store(app, export_store.STORE)
    app.cli.add_command(audit_cli)
    register_job(app, Job("audit-checkpoint", checkpoint_job, "config:AUDIT_CHECKPOINT_TRIGGER",
                          lease_seconds=600))
