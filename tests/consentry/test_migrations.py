"""The migrations are the only path to a schema, and they describe the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from consentry import migrate
from consentry.db import get_db, make_engine
from consentry.schema import all_metadata


def test_migrated_schema_matches_the_models(app):
    with get_db(app).engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                all_metadata())
    assert diff == []


def test_downgrade_to_base_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path}/round.db"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert migrate.migrations_current(conn)
    engine.dispose()
