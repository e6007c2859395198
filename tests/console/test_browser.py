"""The console in a real browser (Debian's Chromium through Playwright), as legal uses it."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from audit import verify
from consent.models import Decision
from consentry.db import get_db
from tests.conftest import serious_accessibility_violations, shoot
from tests.console.conftest import (
    new_key,
    record_violation,
    run_exports,
    run_retention,
    write_consent,
)

pytestmark = pytest.mark.browser


def _expect():
    from playwright.sync_api import expect

    return expect


def sign_in(page, base: str, key: str, start: str = "/console/") -> None:
    page.goto(f"{base}{start}")
    assert "/console/login" in page.url  # no session yet: the sign-in form
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_load_state()
    assert "/console/login" not in page.url


def _accessible(page, name: str) -> None:
    """No serious or critical axe-core violation at either width; screenshots of both."""
    size = page.viewport_size
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert serious_accessibility_violations(page) == [], (name, width)
        # Nothing wider than the screen: wide tables scroll inside their own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size(size)
    shoot(page, f"console-{name}")


def test_a_legal_user_finds_a_persons_trail_exports_it_and_verifies_it(
        app, live_server, page, admin, tmp_path):
    expect = _expect()
    api = app.test_client()
    write_consent(api, admin, "alice")
    write_consent(api, admin, "bob")
    write_consent(api, admin, "alice", "denied")
    api.post("/v1/retention/holds", headers=admin, json={"subject_id": "alice",
                                                        "reason": "case 7"})
    key, _ = new_key(app, "audit:read", "audit:export", name="legal-team")

    sign_in(page, live_server, key, "/console/audit")
    assert page.url.endswith("/console/audit")  # back where the sign-in began
    page.get_by_label("Subject id").fill("alice")
    page.get_by_label("Action").select_option("consent.")
    page.get_by_role("button", name="Show entries").click()
    rows = page.locator("table.entries tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("consent.recorded")
    expect(page.locator("table.entries")).not_to_contain_text("retention.hold.created")

    page.get_by_role("link", name="Exports").click()
    page.get_by_label("Subject id (optional)").fill("alice")
    page.get_by_label("Why (recorded in the audit log)").fill("Access request DSAR-77")
    page.get_by_role("button", name="Request the export").click()
    expect(page.get_by_text("Waiting for the exporter")).to_be_visible()
    assert run_exports(app) == 1  # the scheduler's exporter, in this process
    expect(page.get_by_text("Verified: intact.")).to_be_visible(timeout=15_000)  # refreshed

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the bundle (zip)").click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    with page.expect_download() as download:
        page.get_by_role("link", name="keys.json").click()
    keys = tmp_path / "keys.json"
    download.value.save_as(keys)
    assert verify.main([str(bundle), "--public-key", str(keys)]) == 0

    # The access request itself (GDPR Art. 15): from the audit page filtered to alice.
    page.goto(f"{live_server}/console/audit?subject_id=alice")
    page.get_by_label("Access request reference").fill("DSAR-77")
    page.get_by_role("button", name="Request the subject access export").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Subject access export")
    assert run_exports(app) == 1
    expect(page.get_by_text("Verified: intact.")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("2 receipt(s)")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the bundle (zip)").click()
    assert download.value.suggested_filename.startswith("consentry-access-")
    access = tmp_path / download.value.suggested_filename
    download.value.save_as(access)
    assert verify.main([str(access), "--public-key", str(keys)]) == 0
    with zipfile.ZipFile(access) as z:
        events = json.loads(z.read("subject/consent_events.json"))
        assert [e["status"] for e in events] == ["granted", "denied"]  # bob's is not there
        assert len([n for n in z.namelist() if n.startswith("subject/receipts/")]) == 2
    # And from the exports page, for a person the service knows nothing of.
    page.get_by_role("link", name="Exports", exact=True).click()
    page.get_by_label("Subject id of the person").fill("nobody-1")
    page.get_by_label("Access request reference").fill("DSAR-78")
    page.get_by_role("button", name="Request the subject access export").click()
    assert run_exports(app) == 1
    expect(page.get_by_text("Verified: intact.")).to_be_visible(timeout=15_000)


def test_a_key_without_retention_admin_is_refused_the_retention_page(app, live_server, page):
    expect = _expect()
    key, _ = new_key(app, "audit:read", name="legal-reader")
    sign_in(page, live_server, key)
    expect(page.get_by_role("link", name="Retention")).to_have_count(0)
    response = page.goto(f"{live_server}/console/retention")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("lacks the scope 'retention:admin'")).to_be_visible()
    _accessible(page, "refused")


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
        app, live_server, page, admin):
    expect = _expect()
    key, _ = new_key(app, "retention:admin", name="ops")
    sign_in(page, live_server, key)
    page.goto(f"{live_server}/console/retention")
    form = page.locator("form[action$='/console/retention/holds']")
    form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("Subject id").fill("mallory")
    page.get_by_label("Reason").fill("a forged request")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Add the hold").click()
    assert answer.value.status == 403
    expect(page.get_by_text("csrf_failed")).to_be_visible()
    holds = app.test_client().get("/v1/retention/holds", headers=admin).get_json()["holds"]
    assert holds == []


def _seed_everything(app, admin) -> dict:
    """Data on every page: consents, violations over some days, holds, a dry run, an
    erasure with a reason, an export."""
    api = app.test_client()
    for subject in ("alice", "bob", "carol"):
        write_consent(api, admin, subject)
    now = datetime.now(UTC)
    for i, (surface, category) in enumerate([
            ("homepage_hero", "health"), ("email_digest", "health"),
            ("email_digest", "financial"), ("homepage_hero", "location_precise"),
            ("search_results", "health"), ("homepage_hero", "financial")]):
        r = api.post("/v1/decisions", headers=admin, json={
            "subject_id": f"u-{i}", "surface": surface, "purpose": "personalization",
            "channel": "web", "item": {"id": "sku-1"}, "signals_used": [{"category": category}],
            "decided_at": (now - timedelta(days=i * 4)).isoformat().replace("+00:00", "Z")})
        assert r.status_code == 201
    record_violation(api, admin, "u-9")
    api.post("/v1/decisions", headers=admin, json={
        "subject_id": "alice", "surface": "homepage_hero", "item": {"id": "sku-2"},
        "signals_used": [{"category": "behavioral"}],
        "decided_at": now.isoformat().replace("+00:00", "Z")})
    for subject in ("alice", "dave"):  # made past the behavioral window: alice's are held
        api.post("/v1/decisions", headers=admin, json={
            "subject_id": subject, "surface": "homepage_hero", "item": {"id": "sku-0"},
            "decided_at": now.isoformat().replace("+00:00", "Z")})
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(Decision).where(Decision.subject_id.in_(("alice", "dave")))
                  .values(decided_at=now - timedelta(days=120)))
    api.post("/v1/decisions", headers=admin, json={  # the non-profiling experience
        "subject_id": "carol", "surface": "homepage_hero", "item": {"id": "best-sellers"},
        "decided_at": now.isoformat().replace("+00:00", "Z")})
    hold_id = api.post("/v1/retention/holds", headers=admin, json={
        "subject_id": "alice", "reason": "litigation, case 2026-031"}).get_json()["id"]
    api.post("/v1/retention/holds", headers=admin,
             json={"category": "health", "reason": "regulator inquiry",
                   "until": (now + timedelta(days=90)).isoformat().replace("+00:00", "Z")})
    run_id = api.post("/v1/retention/runs", headers=admin,
                      json={"dry_run": True}).get_json()["run_id"]
    erasure_id = api.post("/v1/subjects/bob/erasure", headers=admin,
                          json={"reason": "DSR-1234"}).get_json()["erasure_id"]
    run_retention(app)
    run_retention(app)
    export_id = api.post("/v1/audit/exports", headers=admin,
                         json={"reason": "quarterly review"}).get_json()["export_id"]
    access_id = api.post("/v1/subjects/alice/access-exports", headers=admin,
                         json={"reason": "DSAR-77"}).get_json()["export_id"]
    run_exports(app)
    return {"run": run_id, "erasure": erasure_id, "export": export_id, "access": access_id,
            "hold": hold_id}


def test_every_console_page_is_accessible_at_desktop_and_phone_widths(
        app, live_server, page, admin):
    expect = _expect()
    ids = _seed_everything(app, admin)
    key, _ = new_key(app, "admin", name="privacy-office")
    page.goto(f"{live_server}/console/login")
    _accessible(page, "login")
    sign_in(page, live_server, key)
    pages = {
        "home": "/console/",
        "audit": "/console/audit?subject_id=alice",
        "exports": "/console/exports",
        "export": f"/console/exports/{ids['export']}",
        "access-export": f"/console/exports/{ids['access']}",
        "retention": "/console/retention",
        "run": f"/console/retention/runs/{ids['run']}",
        "erasure": f"/console/retention/erasures/{ids['erasure']}",
        "decisions": "/console/decisions",
        "reports": "/console/reports",
        "processing-records": "/console/reports/processing-records",
        "find-subject": "/console/subjects",
        "subject": "/console/subjects/alice",
        "lift-hold": f"/console/retention/holds/{ids['hold']}/lift",
        "purge": f"/console/retention/runs/{ids['run']}/purge",
    }
    for name, path in pages.items():
        response = page.goto(f"{live_server}{path}")
        assert response.status == 200, (name, response.status)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        _accessible(page, name)
    # The erasure's confirmation, reached from the person's page as staff reach it.
    page.goto(f"{live_server}/console/subjects/alice")
    page.get_by_role("button", name="Erase this person…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Erase alice?")
    expect(page.get_by_text("It will wait:")).to_be_visible()
    _accessible(page, "confirm-erasure")
    # Keyboard: the skip link comes first and leads to the content.
    page.goto(f"{live_server}/console/audit")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
