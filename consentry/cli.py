"""The `flask --app wsgi ...` commands of the application core."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from consentry import auth, migrate
from consentry.db import get_db
from consentry.errors import DomainError
from consentry.policy import PolicyError, get_policy, load_policy
from consentry.scheduler import run_scheduler
from consentry.secretstore import get_keys

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
keys_cli = AppGroup("keys", help="Scoped API keys.")
policy_cli = AppGroup("policy", help="The consent policy.")
secrets_cli = AppGroup("secrets", help="Signing and encryption keys.")
dev_cli = AppGroup("dev", help="Development helpers used by `make run`.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Bring the schema to the newest migration (or REVISION)."""
    from consentry.app import record_policy  # the factory imports this module

    migrate.upgrade(current_app.config["DATABASE_URL"], revision)
    record_policy(current_app._get_current_object())
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Take the schema back to REVISION."""
    migrate.downgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_cli.command("current")
def db_current() -> None:
    """Say whether the schema is at the newest migration."""
    with get_db().engine.connect() as conn:
        ok = migrate.migrations_current(conn)
    click.echo("current" if ok else "behind: run `flask --app wsgi db upgrade`")
    raise SystemExit(0 if ok else 1)


@keys_cli.command("create")
@click.option("--name", required=True, help="A unique name; it appears in logs and audit.")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(auth.SCOPES), help="Repeat for several scopes.")
def keys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key and print it, alone, on the last line (shown once)."""
    try:
        with get_db().transaction() as session:
            key = auth.create_key(session, name, list(scopes))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created key {name!r} with scopes: {', '.join(sorted(scopes))}", err=True)
    click.echo("store it now: it is not shown again", err=True)
    click.echo(key)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys: name, scopes, created, revoked."""
    with get_db().transaction(write=False) as session:
        for key in auth.list_keys(session):
            revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
            click.echo(f"{key.name}\t{','.join(key.scopes)}\t{key.created_at.isoformat()}"
                       f"\trevoked={revoked}")


@keys_cli.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key NAME."""
    try:
        with get_db().transaction() as session:
            auth.revoke_key(session, name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"revoked {name!r}")


@policy_cli.command("show")
def policy_show() -> None:
    """Print the active policy as TOML (the start of your own policy file)."""
    click.echo(get_policy().to_toml(), nl=False)


@policy_cli.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def policy_check(path: str) -> None:
    """Validate the policy file PATH."""
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"ok: policy version {policy.version}")


@secrets_cli.command("rotate-signing-key")
def rotate_signing_key() -> None:
    """Publish a new Ed25519 signing key, then make it sign; old ones stay published."""

    def published(kid: str, delay: float) -> None:
        click.echo(f"published {kid}; every process publishes it within "
                   f"{delay / 2:g} s, and it signs in {delay:g} s", err=True)

    click.echo(get_keys().rotate_signing_key(on_published=published))


@dev_cli.command("bootstrap")
def dev_bootstrap() -> None:
    """Print a demo admin key for local use, creating it on first run."""
    secrets_dir = Path(current_app.config["SECRETS_DIR"])
    key_file = secrets_dir / "demo-admin.key"
    if key_file.exists():
        key = key_file.read_text().strip()
        with current_app.test_request_context():
            if auth.authenticate(key) is not None:
                click.echo(key)
                return
    with get_db().transaction() as session:
        name = "demo-admin"
        if any(k.name == name and k.revoked_at is None for k in auth.list_keys(session)):
            auth.revoke_key(session, name)
            name = f"demo-admin-{os.getpid()}"
        key = auth.create_key(session, name, ["admin"])
    key_file.write_text(key)
    key_file.chmod(0o600)
    click.echo(key)


def scheduler_command() -> None:
    """Run the scheduler process (jobs, purges, queued runs) until stopped."""
    from consentry.app import record_policy  # the composition root imports this module

    app = current_app._get_current_object()
    if app.config.get("RECORD_POLICY_ON_START", True):
        # started while no server took writes (a failover): record it once one does
        while not record_policy(app):
            time.sleep(2)
    run_scheduler(app)


def register_cli(app: Flask) -> None:
    """Attach the core command groups to `app`."""
    for group in (db_cli, keys_cli, policy_cli, secrets_cli, dev_cli):
        app.cli.add_command(group)
    app.cli.add_command(click.command("scheduler")(scheduler_command))
