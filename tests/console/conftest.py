"""Console fixtures: an app whose exports go to a temporary directory, and signing in."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit.jobs import run_export_queue
from consentry import auth
from consentry.db import get_db
from consentry.scheduler import run_leased

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(AUDIT_EXPORT_DIR=str(tmp_path / "exports"))


def html_client(app):
    """A test client that says it takes HTML, as a browser does."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT"] = "text/html,application/xhtml+xml,*/*;q=0.8"
    return client


def new_key(app, *scopes: str, name: str | None = None) -> tuple[str, str]:
    """Create a key; return (key, its name)."""
    name = name or f"staff-{uuid.uuid4().hex[:6]}"
    with app.app_context(), get_db(app).transaction() as s:
        return auth.create_key(s, name, list(scopes)), name


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, key: str):
    """Sign in through the form as a browser does; return the POST's response."""
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post("/console/login", data={"api_key": key, "csrf_token": csrf_of(form.text)})


@pytest.fixture
def console(app):
    """A signed-in console client for a new key with `scopes`: (client, key name)."""

    def factory(*scopes: str):
        key, name = new_key(app, *scopes)
        client = html_client(app)
        r = sign_in(client, key)
        assert r.status_code == 303, r.text
        return client, name

    return factory


def post_form(client, page: str, action: str, data: dict | None = None):
    """POST a form of `page` with the CSRF token the page carries."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**(data or {}), "csrf_token": token})


def write_consent(client, headers, subject_id: str, status: str = "granted"):
    r = client.put(f"/v1/subjects/{subject_id}/consents", headers=headers, json={
        "source": "test", "jurisdiction": "EU",
        "choices": [{"purpose": "personalization", "category": "behavioral",
                     "status": status}]})
    assert r.status_code == 200, r.get_json()


def record_violation(client, headers, subject_id: str, surface: str = "homepage_hero",
                     category: str = "health"):
    """A decision that used a special category without a grant: a violation."""
    r = client.post("/v1/decisions", headers=headers, json={
        "subject_id": subject_id, "surface": surface, "purpose": "personalization",
        "channel": "web", "item": {"id": "sku-1", "label": "Trail shoes"},
        "signals_used": [{"category": category}],
        "decided_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def run_exports(app) -> int:
    return run_export_queue(app, "test")


def run_retention(app) -> None:
    """One tick of the scheduler's retention poller (runs and erasures)."""
    assert run_leased(app, app.extensions["consentry.jobs"]["retention-poll"], "test")


def past(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
