"""The record of processing in a real browser (Debian's Chromium): found from the reports
page, no axe-core violation at WCAG 2.1 AA of any impact, one column on a phone, and printed
without the console's header and navigation."""

from __future__ import annotations

import pytest

from tests.conftest import shoot
from tests.console.conftest import new_key
from tests.console.test_browser import sign_in

pytestmark = pytest.mark.browser

AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _violations(page) -> list[dict]:
    """Every axe-core violation of WCAG 2.1 A and AA, whatever its impact."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AA)
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in results.response["violations"]]


def test_a_dpo_finds_reads_and_prints_the_record_of_processing(app, live_server, page, admin):
    from playwright.sync_api import expect

    assert app.test_client().put("/v1/recipes/nearby", headers=admin, json={
        "name": "Nearby stores", "purpose": "personalization", "channels": ["web"],
        "trigger": "opens the store finder", "audience": "everyone", "action": "nearest stores",
        "categories": ["behavioral", "location_precise"], "explicit_grants": ["location_precise"],
        "success_metric": "visits", "owner": "retail", "status": "live"}).status_code == 200
    key, _ = new_key(app, "reports:read", name="dpo")
    sign_in(page, live_server, key, "/console/reports")
    page.get_by_role("link", name="The full record, to print").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record of processing activities")
    for heading in ("Controller and data protection officer",
                    "Technical and organisational security measures", "Processing activities",
                    "Advertising (advertising)"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Recipients: Advertising")).to_contain_text(
        "Example Ad Exchange Inc.")
    expect(page.get_by_role("table", name="Legal basis: Personalization")).to_contain_text(
        "Your precise location: GDPR Art. 6(1)(a) consent to the category itself")
    assert page.locator("script").count() == 0

    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert _violations(page) == [], width
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
    shoot(page, "console-processing-records-recipe")

    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Console pages")).to_be_hidden()
    expect(page.get_by_role("link", name="download it as CSV")).to_be_hidden()
    expect(page.get_by_role("heading", name="Controller and data protection officer")) \
        .to_be_visible()
    assert _violations(page) == []
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
