"""Alembic, driven from the app: the migrations are the only path to a schema."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """Return an Alembic config for the database at `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", connection: Connection | None = None) -> None:
    """Bring the schema at `url` to `revision`."""
    cfg = alembic_config(url)
    if connection is not None:
        cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The revision ids at the head of the migration scripts."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def migrations_current(conn: Connection) -> bool:
    """True when the database behind `conn` is at the newest migration."""
    return frozenset(MigrationContext.configure(conn).get_current_heads()) == head_revisions()
