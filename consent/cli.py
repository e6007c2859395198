"""The `flask --app wsgi consents ...` commands."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import click
import marshmallow as ma
from flask.cli import AppGroup

from consent.imports import IMPORT_BATCH, ImportRecord, import_records
from consent.ledger import ChoiceInput, check_choices, protect_evidence
from consent.schemas import ImportRecordSchema
from consentry.clock import utcnow
from consentry.db import get_db
from consentry.errors import DomainError, flatten_messages
from consentry.inbound import JsonRejected, loads
from consentry.policy import get_policy
from consentry.secretstore import get_keys

consents_cli = AppGroup("consents", help="The consent ledger.")
CSV_CHOICE = ("purpose", "category", "channel", "status")
_SCHEMA = ImportRecordSchema()


class BadRecord(ValueError):
    """A line that cannot be imported, and why."""


@consents_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default=None,
              help="jsonl (one JSON record a line) or csv (one choice a row); "
                   "default: from the file's extension.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=IMPORT_BATCH,
              show_default=True, help="Records committed together.")
def import_command(file: Path, fmt: str | None, batch_size: int) -> None:
    """Import historical consent records, each keeping its own time; safe to run again."""
    fmt = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
    db, keys, policy = get_db(), get_keys(), get_policy()
    now = utcnow()
    imported = found = 0
    failure = None

    def commit(batch: list[ImportRecord]) -> None:
        nonlocal imported, found
        with db.transaction() as session:
            added, known = import_records(session, keys, policy, batch, actor="cli:import")
        imported, found = imported + added, found + known
        batch.clear()

    batch: list[ImportRecord] = []
    lines = _csv_rows(file) if fmt == "csv" else _json_lines(file)
    with closing(lines), click.progressbar(length=file.stat().st_size, label="importing",
                                           file=sys.stderr) as bar:
        for line, data, size in lines:
            bar.update(size)
            if data is None:  # a blank line
                continue
            try:
                batch.append(_record(data, policy, keys, now))
            except BadRecord as exc:
                failure = f"line {line}: {exc}"
                break
            if len(batch) >= batch_size:
                commit(batch)
        if batch:
            commit(batch)  # the good lines before a bad one are kept
    click.echo(f"imported {imported} records; {found} were in already")
    if failure:
        raise click.ClickException(f"{failure} (the lines before it are imported; fix it "
                                   f"and run the import again)")


def _json_lines(path: Path) -> Iterator[tuple[int, object, int]]:
    """(line number, parsed JSON or BadRecord or None for a blank line, bytes) a line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                yield number, None, len(raw)
                continue
            try:
                data = loads(raw)
            except (JsonRejected, ValueError) as exc:
                yield number, BadRecord(f"not JSON: {exc}"), len(raw)
                return
            yield number, data, len(raw)


def _csv_rows(path: Path) -> Iterator[tuple[int, object, int]]:
    """Rows of a CSV with a header: subject_id, recorded_at, source, purpose, status and
    optionally jurisdiction, category, channel, notice_version — one choice a row."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            size = sum(len(v or "") + 1 for v in row.values() if isinstance(v, str))
            if None in row:
                yield reader.line_num, BadRecord("more values than the header names"), size
                return
            record = {k: v for k, v in row.items() if v not in ("", None) and k not in CSV_CHOICE}
            record["choices"] = [{k: row[k] for k in CSV_CHOICE if row.get(k)}]
            yield reader.line_num, record, size


def _record(data, policy, keys, now) -> ImportRecord:
    """Check one record as a consent write is checked; BadRecord says why not."""
    if isinstance(data, BadRecord):
        raise data
    if not isinstance(data, dict):
        raise BadRecord("not a JSON object")
    try:
        loaded = _SCHEMA.load(data)
    except ma.ValidationError as exc:
        raise BadRecord(_describe(flatten_messages(exc.messages))) from exc
    if loaded["recorded_at"] > now:
        raise BadRecord("recorded_at: lies after the import started")
    choices = tuple(ChoiceInput(**c) for c in loaded["choices"])
    try:
        check_choices(policy, list(choices), loaded["jurisdiction"])
        evidence = protect_evidence(keys, loaded["evidence"])
    except DomainError as exc:
        raise BadRecord(_describe(exc.fields or {}) or exc.message) from exc
    return ImportRecord(subject_id=loaded["subject_id"], recorded_at=loaded["recorded_at"],
                        source=loaded["source"], choices=choices,
                        jurisdiction=loaded["jurisdiction"],
                        notice_version=loaded["notice_version"], evidence=evidence)


def _describe(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
