"""The `flask --app wsgi audit ...` commands: exports, verification, checkpoints.

Kept out of `audit/__init__` so the offline verifier never imports Flask.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from audit.checkpoints import create_checkpoint
from audit.export import ExportRequest, count_entries, export_bundle
from audit.jobs import run_sequencer
from audit.service import integrate_all
from audit.verify import (
    Limits,
    Unusable,
    format_size,
    load_public_keys,
    parse_ratio,
    parse_size,
    render,
    verify_bundle,
)
from consentry.db import get_db
from consentry.errors import DomainError
from consentry.secretstore import get_keys
from consentry.signing import keys_by_kid

audit_cli = AppGroup("audit", help="The audit log: sequencing, checkpoints, export bundles, "
                                    "verification.")


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
            total = count_entries(session, get_keys(), request)
        with click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
            record = export_bundle(get_db(), get_keys(), request, out=out,
                                   progress=bar.update)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"wrote {record.count} entries to {out} (export {record.id}, "
               f"checkpoint at tree size {record.checkpoint_size})")


def _converter(parse):
    def convert(_ctx, param, value: str):
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param=param) from exc
    return convert


@audit_cli.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--public-key", help="Published keys (JWKS, JWK or PEM); default: this service's.")
@click.option("--previous-checkpoint", type=click.Path(dir_okay=False),
              help="checkpoint.json of an earlier bundle this one must extend.")
@click.option("--max-member-size", type=str, default=str(Limits.member_bytes), metavar="SIZE",
              callback=_converter(parse_size), show_default=format_size(Limits.member_bytes),
              help="Refuse a member larger than this uncompressed (bytes, or 512M, 16G).")
@click.option("--max-compression-ratio", type=str, default=str(Limits.ratio), metavar="N",
              callback=_converter(parse_ratio), show_default=f"{Limits.ratio:g}",
              help=f"Refuse a member of more than {format_size(Limits.RATIO_FLOOR)} that "
                   f"expands more than N times.")
def verify_command(bundle, public_key, previous_checkpoint, max_member_size,
                   max_compression_ratio) -> None:
    """Check a bundle; exit 0 intact, 1 tampered, 2 unusable or refused by a limit.

    Without --public-key the signatures are checked against this service's own
    published keys (never the bundle's keys.json), so a sound bundle exits 0; the
    offline `python -m audit.verify` exits 3 there instead, as it has no key of its own.
    """
    try:
        keys = load_public_keys(public_key) if public_key else keys_by_kid(get_keys().jwks())
        previous = (json.loads(Path(previous_checkpoint).read_bytes())
                    if previous_checkpoint else None)
    except (Unusable, OSError, ValueError) as exc:
        click.echo(f"UNUSABLE: {exc}")
        sys.exit(2)
    limits = Limits(member_bytes=max_member_size, ratio=max_compression_ratio)
    report = verify_bundle(bundle, keys, previous, limits)
    click.echo(render(report))
    sys.exit(report.exit_code)


@audit_cli.command("checkpoint")
def checkpoint_command() -> None:
    """Sign a checkpoint of the log as it stands now (queued entries sequenced first)."""
    with get_db().transaction() as session:
        integrate_all(session)
        checkpoint = create_checkpoint(session, get_keys(), reason="manual")
    click.echo(f"tree size {checkpoint.tree_size} root {checkpoint.root_hash} "
               f"key {checkpoint.kid}")


@audit_cli.command("sequence")
def sequence_command() -> None:
    """Sequence the queued audit entries now (the scheduler's sequencer does it every
    CONSENTRY_AUDIT_SEQUENCE_SECONDS), under the sequencer lease."""
    from flask import current_app

    count = run_sequencer(current_app, f"cli:{getpass.getuser()}")
    click.echo(f"sequenced {count} entries")
