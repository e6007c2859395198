"""The `flask --app wsgi retention ...` commands."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from consentry.db import get_db
from consentry.errors import DomainError
from consentry.scheduler import holder_id
from retention import runner, service

retention_cli = AppGroup("retention", help="Retention purges and erasures.")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--target", "target_names", multiple=True, metavar="NAME",
              help="Purge only this target (repeat for several).")
def run_command(dry_run: bool, target_names: tuple[str, ...]) -> None:
    """Run a retention purge now, in the foreground, and print its report."""
    worker = runner.Runner(current_app._get_current_object(), f"cli:{holder_id()}")
    if not worker.acquire():
        raise click.ClickException("another retention run is in progress; try again later")
    try:
        try:
            with get_db().transaction() as session:
                run = service.queue_run(session, worker.keys, worker.known_targets,
                                        dry_run=dry_run,
                                        targets=list(target_names) or None, trigger="cli",
                                        actor="cli")
                service.claim_run(session, worker.holder, run.id)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        names = run.targets or worker.known_targets
        finished: set[str] = set()
        with click.progressbar(length=max(len(names), 1), label="purging",
                               file=sys.stderr) as bar:
            def progress(name: str, entry: dict) -> None:
                if entry["status"] != "running" and name not in finished:
                    finished.add(name)
                    bar.update(1)

            done = worker.execute_run(run.id, progress)
    finally:
        worker.release()
    document = service.run_document(done)
    click.echo(report_table(document))
    if document["status"] != "succeeded":
        raise SystemExit(1)


def report_table(document: dict) -> str:
    """Render a run's report as a plain-text table."""
    header = ("target", "status", "matched", "deleted", "held", "error")
    rows = [(t["name"], t["status"], str(t["matched"]), str(t["deleted"]), str(t["held"]),
             t.get("error") or "") for t in document["targets"]]
    totals = document["totals"]
    rows.append(("total", document["status"], str(totals["matched"]), str(totals["deleted"]),
                 str(totals["held"]), document.get("error") or ""))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    mode = "dry run" if document["dry_run"] else "run"
    out = [f"retention {mode} {document['run_id']}: {document['status']}"]
    out += [f"cutoff {name}: {value or 'kept while the account lives'}"
            for name, value in document["cutoffs"].items()]
    out += [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows[:-1]]
    out += [line(["-" * w for w in widths]), line(rows[-1])]
    return "\n".join(out)
