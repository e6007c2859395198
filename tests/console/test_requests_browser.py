"""A privacy officer answers an access request in a real browser (Debian's Chromium)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from audit import verify
from tests.console.conftest import new_key, run_exports, write_consent
from tests.console.test_browser import _accessible, _expect, sign_in

pytestmark = pytest.mark.browser


def test_an_officer_records_an_access_request_completes_it_and_downloads_the_bundle(
        app, live_server, page, admin, tmp_path):
    expect = _expect()
    api = app.test_client()
    write_consent(api, admin, "alice")
    received = (datetime.now(UTC) - timedelta(days=40)).isoformat().replace("+00:00", "Z")
    late = api.post("/v1/requests", headers=admin, json={
        "subject_id": "bob", "type": "erasure", "jurisdiction": "EU", "source": "email",
        "received_at": received})
    assert late.status_code == 201
    key, _ = new_key(app, "requests:read", "requests:write", "audit:export",
                     name="privacy-officer")

    sign_in(page, live_server, key, "/console/requests")
    assert page.url.endswith("/console/requests")
    _accessible(page, "requests-empty")
    page.get_by_label("Subject id").fill("alice")
    page.get_by_label("Type").last.select_option("access")
    page.get_by_label("Jurisdiction").last.select_option("EU")
    page.get_by_label("Note (optional)").fill("DSR-1234, asked by email")
    page.get_by_role("button", name="Record the request").click()
    expect(page.get_by_text("The request is recorded")).to_be_visible()
    _accessible(page, "request-received")

    page.get_by_role("link", name="← The queue").click()
    row = page.locator("tbody tr").filter(has_text="alice")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("days left")
    overdue = page.locator("tbody tr").first  # soonest due first: bob's, past its date
    expect(overdue).to_contain_text("bob")
    expect(overdue).to_contain_text("Overdue by")
    marked = overdue.locator(".overdue")
    assert marked.evaluate("e => getComputedStyle(e).color") == "rgb(164, 22, 26)"
    assert overdue.locator("td").first.evaluate(
        "e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    _accessible(page, "requests-queue")
    page.goto(f"{live_server}/console/")
    expect(page.get_by_text("0 due this week, 1 overdue (2 open)")).to_be_visible()
    page.get_by_role("link", name="Requests", exact=True).first.click()

    row.get_by_role("link").click()
    page.get_by_label("Move to").select_option("completed")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The request is completed")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="being written")).to_be_visible()
    assert run_exports(app) == 1  # the scheduler's exporter, in this process
    # the page's own script looks again and reloads once the bundle is ready
    expect(page.get_by_text("The bundle is written and signed.")).to_be_visible(timeout=15_000)
    _accessible(page, "request-completed")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the bundle").click()
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    keys = tmp_path / "keys.json"
    keys.write_bytes(api.get("/.well-known/consentry-keys").data)
    assert verify.main([str(bundle), "--public-key", str(keys)]) == 0
    with zipfile.ZipFile(bundle) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["kind"] == "subject_access"
        assert manifest["subject_access"]["subject_id"] == "alice"
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
