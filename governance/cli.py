"""The `flask --app wsgi reports ...` commands: the governance reports written to a file."""

from __future__ import annotations

from datetime import UTC

import click
import orjson
from flask.cli import AppGroup

from consentry.clock import utcnow
from consentry.db import get_db
from consentry.policy import get_policy
from governance import reports
from governance.schemas import MinimizationSchema, ProcessingRecordsSchema

reports_cli = AppGroup("reports", help="Governance reports for privacy and legal staff.")


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    click.echo(f"wrote {path}")


@reports_cli.command("minimization")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write (JSON).")
@click.option("--since", type=click.DateTime(), default=None,
              help="UTC date or time (default: a year ago).")
def minimization_command(out: str, since) -> None:
    """Write the data-minimization report (JSON) for the last year, or since --since."""
    with get_db().transaction() as session:
        report = reports.minimization(session, get_policy(),
                                      since.replace(tzinfo=UTC) if since else None, None,
                                      utcnow())
    _write(out, orjson.dumps(MinimizationSchema().dump(report),
                             option=orjson.OPT_INDENT_2).decode())


@reports_cli.command("processing")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write: CSV if it ends in .csv, else JSON.")
def processing_command(out: str) -> None:
    """Write the record of processing activities with its DPIA screening."""
    with get_db().transaction() as session:
        record = reports.processing_records(session, get_policy(), utcnow())
    if out.lower().endswith(".csv"):
        _write(out, reports.processing_records_csv(record))
    else:
        _write(out, orjson.dumps(ProcessingRecordsSchema().dump(record),
                                 option=orjson.OPT_INDENT_2).decode())
