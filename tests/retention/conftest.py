"""Fixtures for retention: an external target database on the same engine as the test run."""

from __future__ import annotations

import tomllib
import uuid
from datetime import datetime
from importlib import resources

import pytest
import tomli_w
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from consentry.db import get_db
from retention import service
from retention.models import RetentionRun
from retention.runner import Runner


@pytest.fixture
def external_url(database_url, tmp_path):
    """A database for external target tables: a SQLite file, or its own PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'external.db'}"
        return
    schema = f"ext_{uuid.uuid4().hex[:10]}"
    parsed = make_url(database_url)
    base = parsed.set(query={k: v for k, v in parsed.query.items() if k != "options"})
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def external(external_url):
    """An engine on the external database (tables made with plain SQL by each test)."""
    engine = create_engine(external_url)
    yield engine
    engine.dispose()


def write_policy(path, targets: list[dict]) -> str:
    """The shipped policy plus `targets` as [[retention.targets]], written to `path`."""
    text_ = resources.files("consentry").joinpath("default_policy.toml").read_text("utf-8")
    data = tomllib.loads(text_)
    data["retention"]["targets"] = targets
    path.write_text(tomli_w.dumps(data))
    return str(path)


@pytest.fixture
def retention_app(make_app, tmp_path):
    """Build an app whose policy declares `targets`; small batches, fast leases."""

    def factory(targets: list[dict], **config):
        policy = write_policy(tmp_path / f"policy-{uuid.uuid4().hex[:6]}.toml", targets)
        settings = {"POLICY_FILE": policy, "RETENTION_LEASE_SECONDS": 5.0,
                    "SCHEDULER_POLL_SECONDS": 0.2}
        settings.update(config)
        return make_app(**settings)

    return factory


def run_now(app, *, dry_run=False, targets=None, as_of: datetime | None = None):
    """Queue and carry out a run in this process, its clock fixed at `as_of`; return its doc."""
    worker = Runner(app, f"test-{uuid.uuid4().hex[:6]}")
    assert worker.acquire()
    try:
        with app.app_context(), get_db(app).transaction() as session:
            run = service.queue_run(session, worker.keys, worker.known_targets,
                                    dry_run=dry_run, targets=targets, trigger="cli",
                                    actor="test")
            claimed = service.claim_run(session, worker.holder, run.id)
            if as_of is not None:
                claimed.started_at = as_of
        with app.app_context():
            worker.execute_run(run.id)
    finally:
        worker.release()
    with app.app_context(), get_db(app).transaction(write=False) as session:
        return service.run_document(session.get(RetentionRun, run.id))


def by_target(document) -> dict[str, dict]:
    return {t["name"]: t for t in document["targets"]}
