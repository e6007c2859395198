"""The re-consent banner in a real browser (Debian's Chromium via Playwright): shown after
a material notice change, read by assistive technology without serious violations,
cleared by saving the form."""

import hashlib

import pytest

from tests.conftest import serious_accessibility_violations, shoot

pytestmark = pytest.mark.browser


def test_the_reconsent_banner_shows_links_the_notice_and_clears_on_save(
        client, live_server, backend, admin, page):
    for version in ("1", "2"):
        r = client.put("/v1/notices/privacy", headers=admin, json={
            "version": version, "url": f"https://example.com/privacy/v{version}",
            "sha256": hashlib.sha256(version.encode()).hexdigest(), "material": True})
        assert r.status_code == 201
        if version == "1":
            client.put("/v1/subjects/u-7/consents", headers=backend, json={
                "source": "shop", "notice_version": "1",
                "choices": [{"purpose": "marketing", "status": "granted"}]})
    r = client.post("/v1/subjects/u-7/preference-link", json={}, headers=backend,
                    base_url=live_server)
    page.goto(r.get_json()["url"])
    banner = page.locator("#reconsent")
    assert banner.is_visible()
    assert "Our privacy notice has changed." in banner.inner_text()
    link = banner.get_by_role("link", name="Read the new privacy notice (version 2)")
    assert link.get_attribute("href") == "https://example.com/privacy/v2"
    assert serious_accessibility_violations(page) == []
    shoot(page, "preference-page-reconsent")

    page.get_by_role("button", name="Save my choices").first.click()
    page.wait_for_url("**receipt=**")
    assert page.locator("#reconsent").count() == 0
    assert page.get_by_text("Saved.").is_visible()
    assert page.get_by_role("link", name="our privacy notice (version 2)").is_visible()
    state = client.get("/v1/subjects/u-7/consents", headers=backend).get_json()
    assert state["reconsent_needed"] is False
    marketing = next(e for e in state["entries"]
                     if e["purpose"] == "marketing" and e["category"] is None)
    assert marketing["allowed"] is True  # confirmed, not changed
