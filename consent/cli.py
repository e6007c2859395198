"""The `flask --app wsgi consents ...` commands."""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import click
import marshmallow as ma
from flask import current_app
from flask.cli import AppGroup

from consent.imports import ERASED_SUBJECTS, IMPORT_BATCH, ImportRecord, import_records
from consent.ledger import ChoiceInput, check_choices, protect_evidence
from consent.notices import resolve_notice_version
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
    """Import historical consent records, each keeping its own time; safe to run again.

    A subject with a completed erasure is skipped (and counted), never imported again."""
    fmt = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
    db, keys, policy = get_db(), get_keys(), get_policy()
    erased = current_app.extensions[ERASED_SUBJECTS]
    now = utcnow()
    imported = found = skipped = 0
    failure = None
    notices: dict[str, str | BadRecord] = {}  # each notice_version as the write checks it

    def notice(value: str | None) -> str | None:
        """The record's notice version as a consent write stores it, else BadRecord."""
        if value is None:
            return None
        if value not in notices:
            try:
                with db.transaction(write=False) as session:
                    notices[value] = resolve_notice_version(session, policy, value)
            except DomainError as exc:
                notices[value] = BadRecord(_describe(exc.fields or {}) or exc.message)
        if isinstance(notices[value], BadRecord):
            raise notices[value]
        return notices[value]

    def commit(batch: list[ImportRecord]) -> None:
        nonlocal imported, found, skipped
        with db.transaction() as session:
            added, known, gone = import_records(session, keys, policy, batch,
                                                actor="cli:import", erased=erased)
        imported, found, skipped = imported + added, found + known, skipped + gone
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
                batch.append(_record(data, policy, keys, now, notice))
            except BadRecord as exc:
                failure = f"line {line}: {exc}"
                break
            if len(batch) >= batch_size:
                commit(batch)
        if batch:
            commit(batch)  # the good lines before a bad one are kept
    click.echo(f"imported {imported} records; {found} were in already; "
               f"{skipped} skipped: subject erased")
    if failure:
        raise click.ClickException(f"{failure} (the lines before it are imported; fix it "
                                   f"and run the import again)")


def _json_lines(path: Path) -> Iterator[tuple[int, object, int]]:
    """(line number, parsed JSON or BadRecord or None for a blank line, bytes) a line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            if not raw.strip():
                yield number, None, len(raw)
                continue
            try:
                data = loads(raw)
            except (JsonRejected, ValueError) as exc:
                yield number, BadRecord(f"not JSON: {exc}"), len(raw)
                return
            yield number, data, len(raw)


class _BadLine(Exception):
    """A physical line of a CSV that is not text a row can hold (stops the reader)."""

    def __init__(self, number: int, why: str):
        super().__init__(why)
        self.number = number


def _text_lines(handle) -> Iterator[str]:
    """The file's lines as text: UTF-8, a leading byte order mark dropped (Excel writes
    one: `utf-8-sig`); a line that is not UTF-8 or holds a NUL raises _BadLine."""
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise _BadLine(number, f"not UTF-8 text (byte {exc.start + 1} of the line is "
                                   f"{raw[exc.start:exc.start + 1]!r})") from None
        if "\x00" in text:
            raise _BadLine(number, "holds a NUL character")
        yield text


def _csv_rows(path: Path) -> Iterator[tuple[int, object, int]]:
    """Rows of a CSV with a header: subject_id, recorded_at, source, purpose, status and
    optionally jurisdiction, category, channel, notice_version — one choice a row.
    UTF-8, with or without a byte order mark; a bad line ends the rows as a BadRecord."""
    with path.open("rb") as handle:
        reader = csv.DictReader(_text_lines(handle))
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except _BadLine as exc:
                yield exc.number, BadRecord(str(exc)), 0
                return
            except csv.Error as exc:
                yield reader.line_num, BadRecord(f"not CSV: {exc}"), 0
                return
            size = sum(len(v or "") + 1 for v in row.values() if isinstance(v, str))
            if None in row:
                yield reader.line_num, BadRecord("more values than the header names"), size
                return
            record = {k: v for k, v in row.items() if v not in ("", None) and k not in CSV_CHOICE}
            record["choices"] = [{k: row[k] for k in CSV_CHOICE if row.get(k)}]
            yield reader.line_num, record, size


def _record(data, policy, keys, now, notice) -> ImportRecord:
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
                        notice_version=notice(loaded["notice_version"]), evidence=evidence)


def _describe(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
