"""`flask staff ...`: the console's staff accounts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from consentry.auth import ROLES
from consentry.clock import utcnow
from consentry.db import get_db
from consentry.errors import DomainError
from console import staff

staff_cli = AppGroup("staff", help="Console staff accounts and their roles.")


def _run(action):
    try:
        with get_db().transaction() as session:
            return action(session)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


@staff_cli.command("add")
@click.option("--email", required=True, help="The person's email: their sign-in name.")
@click.option("--role", required=True, type=click.Choice(list(ROLES)),
              help="A named set of scopes (API.md, Staff and roles).")
def staff_add(email: str, role: str) -> None:
    """Create a staff account; print its one-time password alone on the last line."""
    password = _run(lambda s: staff.add_staff(s, email, role, utcnow()))
    click.echo(f"created staff account {staff.normal_email(email)!r} with role {role}; the "
               "first sign-in sets a password and enrols TOTP", err=True)
    click.echo(password)


@staff_cli.command("list")
def staff_list() -> None:
    """List staff accounts: email, role, TOTP enrolled, created, disabled."""
    with get_db().transaction(write=False) as session:
        for account in staff.list_staff(session):
            disabled = account.disabled_at.isoformat() if account.disabled_at else "-"
            click.echo(f"{account.email}\t{account.role}\t"
                       f"totp={'yes' if account.totp_enrolled else 'no'}\t"
                       f"{account.created_at.isoformat()}\tdisabled={disabled}")


@staff_cli.command("disable")
@click.option("--email", required=True)
def staff_disable(email: str) -> None:
    """Disable a staff account: it signs in no more and its sessions end now."""
    _run(lambda s: staff.disable_staff(s, email, utcnow()))
    click.echo(f"disabled {email!r}; its sessions are ended")


@staff_cli.command("reset")
@click.option("--email", required=True)
def staff_reset(email: str) -> None:
    """A new one-time password (and TOTP enrolment) for an account; printed last."""
    password = _run(lambda s: staff.reset_staff(s, email))
    click.echo(f"reset {email!r}: its sessions are ended; the next sign-in sets a password "
               "and enrols TOTP again", err=True)
    click.echo(password)
