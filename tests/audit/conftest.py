"""Audit fixtures: bundles go to a temporary directory; entries are written by the service."""

from __future__ import annotations

import pytest

from audit.service import append_entry
from consentry.db import get_db
from consentry.secretstore import get_keys


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(AUDIT_EXPORT_DIR=str(tmp_path / "exports"))


@pytest.fixture
def append(app):
    """Append audit entries through the service, each call in its own transaction."""

    def factory(n: int = 1, action: str = "test.event", subject_id: str | None = None,
                personal: dict | None = None, **details):
        with app.app_context(), get_db(app).transaction() as s:
            for i in range(n):
                append_entry(s, get_keys(), action, subject_id=subject_id, personal=personal,
                             details={"i": i, **details})

    return factory
