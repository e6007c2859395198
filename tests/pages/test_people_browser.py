"""The second round of the pages for people in a real browser (Debian's Chromium via
Playwright), at phone and desktop widths, as a person would use them (issue 23): withdraw
a consent given through the API, reject all and allow all, count the tab stops, read a
German page, press a control twice, open a receipt, ask for a copy and for deletion.
axe-core checks every state against WCAG 2.1 A and AA: no violation at all."""

import pytest

from tests.conftest import SCREENSHOTS, shoot
from tests.pages.test_browser import link, open_every_purpose, tab_through

pytestmark = pytest.mark.browser

WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def aa_violations(page) -> list[dict]:
    """Every axe-core violation of WCAG 2.1 A or AA on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AA},
                                       "resultTypes": ["violations"]})
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in results.response["violations"]]


def clean(page) -> None:
    assert aa_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def signals(client, backend, purpose, channel, subject="u-42"):
    body = client.get(f"/v1/subjects/{subject}/allowed-signals", headers=backend,
                      query_string={"purpose": purpose, "channel": channel}).get_json()
    return body["allowed"], {d["category"]: d["reason"] for d in body["denied"]}


def receipts(client, backend, subject="u-42") -> list[str]:
    events = client.get(f"/v1/subjects/{subject}/consents/history?limit=1000",
                        headers=backend).get_json()["events"]
    return list(dict.fromkeys(e["receipt_id"] for e in reversed(events)))


@pytest.mark.parametrize("width", WIDTHS)
def test_withdraw_an_api_granted_email_marketing_consent_from_the_page(
        client, live_server, backend, page, width):
    page.set_viewport_size(WIDTHS[width])
    assert client.put("/v1/subjects/u-42/consents", headers=backend, json={
        "source": "shop", "jurisdiction": "EU",
        "choices": [{"purpose": "marketing", "channel": "email",
                     "status": "granted"}]}).status_code == 200
    assert "declared" in signals(client, backend, "marketing", "email")[0]
    page.goto(link(client, live_server, backend, "/v1/subjects/u-42/preference-link"))
    marketing = page.locator("section.purpose").filter(
        has=page.get_by_role("heading", name="Marketing"))
    marketing.locator("summary").click()
    email = marketing.get_by_role("checkbox", name="Email", exact=True)
    assert email.is_visible() and email.is_checked()  # the API's grant, visible
    toggle = page.get_by_role("checkbox", name="Marketing", exact=True)
    assert toggle.is_checked()
    assert marketing.get_by_text("Partly on").is_visible()
    clean(page)
    shoot(page, f"preference-channels-{width}")
    toggle.uncheck()
    page.get_by_role("button", name="Save my choices").first.click()
    page.wait_for_url("**receipt=**")
    assert page.get_by_role("status").filter(has_text="Saved.").is_visible()
    allowed, denied = signals(client, backend, "marketing", "email")
    assert allowed == [] and denied["declared"] == "purpose_denied"
    marketing.locator("summary").click()
    assert not marketing.get_by_role("checkbox", name="Email", exact=True).is_checked()
    clean(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_reject_all_then_allow_all_and_the_gate_and_the_receipts_follow(
        client, live_server, backend, page, width):
    page.set_viewport_size(WIDTHS[width])
    page.goto(link(client, live_server, backend, "/v1/subjects/u-42/preference-link"))
    reject, allow = (page.get_by_role("button", name=n) for n in ("Reject all", "Allow all"))
    one, other = reject.bounding_box(), allow.bounding_box()
    assert abs(one["height"] - other["height"]) < 1  # equally prominent
    reject.click()
    page.wait_for_url("**receipt=**")
    for purpose in ("personalization", "marketing", "advertising", "analytics"):
        for channel in ("web", "email"):
            allowed, denied = signals(client, backend, purpose, channel)
            assert allowed == [] and set(denied.values()) <= {
                "purpose_denied", "not_permitted_for_purpose",
                "requires_explicit_consent"}, (purpose, channel)
    assert not page.get_by_role("checkbox", name="Personalization", exact=True).is_checked()
    clean(page)
    shoot(page, f"preference-rejected-{width}")
    first = receipts(client, backend)
    assert len(first) == 1

    page.get_by_role("button", name="Allow all").click()
    page.wait_for_url("**receipt=**")
    assert page.url.split("receipt=")[1] != first[0]
    allowed, denied = signals(client, backend, "personalization", "web")
    assert "behavioral" in allowed and denied["health"] == "requires_explicit_consent"
    assert len(receipts(client, backend)) == 2
    clean(page)
    # the receipt, as a page
    page.get_by_role("link", name=page.url.split("receipt=")[1]).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Your receipt").is_visible()
    assert page.get_by_text("Personalization · Activity in our product: allowed").is_visible()
    assert page.get_by_role("link", name="Download the signed receipt (JSON)").get_attribute(
        "href").endswith("format=json")
    clean(page)
    shoot(page, f"receipt-page-{width}")
    if width == "desktop":
        from tests.pages.test_browser import readme_shot
        readme_shot(page, "receipt-page")


def test_fewer_than_twelve_tab_stops_before_save(client, live_server, backend, page):
    page.goto(link(client, live_server, backend, "/v1/subjects/u-42/preference-link",
                   return_url="https://example.com/account"))
    focused = tab_through(page, "Save my choices")
    assert focused == ["Skip to content", "Back", "Save my choices"]
    assert len(focused) - 1 < 12
    # the form's default button (what Enter submits) is Save, never Reject all
    assert page.evaluate("() => document.querySelector('form.preferences')"
                         ".querySelector('[type=submit]').textContent.trim()") == \
        "Save my choices"
    open_every_purpose(page)
    clean(page)
    from tests.pages.test_browser import readme_shot
    page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    readme_shot(page, "preference-page")


def test_a_german_page_marks_the_english_engine_text(client, live_server, backend, page):
    page.set_viewport_size(WIDTHS["phone"])
    body = {"subject_id": "u-42", "surface": "homepage_hero", "channel": "web",
            "purpose": "personalization", "item": {"id": "sku-1", "label": "Trail shoes"},
            "signals_used": [{"category": "behavioral",
                              "summary": "viewed running shoes 3 times"}],
            "decided_at": "2026-12-01T10:00:00Z"}
    r = client.post("/v1/decisions", json=body, headers=backend)
    decision_id = r.get_json()["decision_id"]
    page.goto(link(client, live_server, backend,
                   f"/v1/subjects/u-42/explanations/{decision_id}/link", language="de"))
    assert page.locator("html").get_attribute("lang") == "de"
    english = page.locator("main [lang]")
    assert {english.nth(i).get_attribute("lang") for i in range(english.count())} == {"en"}
    assert english.filter(has_text="Trail shoes").count() == 1
    assert english.filter(has_text="viewed running shoes 3 times").count() == 1
    assert "weil Sie viewed" not in page.locator("main").inner_text()
    clean(page)
    shoot(page, "explanation-de-english-engine")
    page.get_by_role("link", name="Alle Datenschutzeinstellungen ansehen").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("heading", name="Ihre Datenschutzeinstellungen").is_visible()
    open_every_purpose(page)
    assert page.locator("label[for=channel-marketing-email] [lang=en]").inner_text() == "Email"
    clean(page)
    shoot(page, "preference-page-de-open")


def test_pressing_a_control_twice_on_the_explanation_page_gives_one_receipt(
        client, live_server, backend, page):
    body = {"subject_id": "u-42", "surface": "homepage_hero", "channel": "web",
            "purpose": "personalization", "item": {"id": "sku-1", "label": "Trail shoes"},
            "signals_used": [{"category": "behavioral", "summary": "viewed shoes"}],
            "decided_at": "2026-12-01T10:00:00Z"}
    decision_id = client.post("/v1/decisions", json=body, headers=backend).get_json()[
        "decision_id"]
    page.goto(link(client, live_server, backend,
                   f"/v1/subjects/u-42/explanations/{decision_id}/link"))
    assert page.get_by_text("Still on: we may use this now.").is_visible()
    button = page.get_by_role("button", name="Stop using my activity in our product")
    button.click()
    page.wait_for_url("**done=**")
    assert page.get_by_text("Off: you turned this off on").is_visible()
    assert page.get_by_text("Already done.").is_visible()
    clean(page)
    shoot(page, "explanation-in-effect")
    page.get_by_role("button", name="Stop using my activity in our product").click()
    page.wait_for_url("**saved=nothing**")
    assert page.get_by_text("nothing was recorded").is_visible()
    assert len(receipts(client, backend)) == 1
    clean(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_ask_for_a_copy_and_for_deletion(client, live_server, backend, admin, page, width):
    page.set_viewport_size(WIDTHS[width])
    page.goto(link(client, live_server, backend, "/v1/subjects/u-42/preference-link"))
    page.get_by_role("button", name="Get a copy of my data").click()
    page.wait_for_url("**asked=**")
    assert page.get_by_role("status").filter(has_text="Your request was received.").is_visible()
    assert page.locator(".request-list").get_by_text("Copy of your data").is_visible()
    clean(page)
    page.get_by_role("button", name="Delete my data").click()
    assert page.get_by_role("heading", name="Delete your data?").is_visible()
    clean(page)
    shoot(page, f"erasure-confirm-{width}")
    page.get_by_role("button", name="Yes, delete my data").click()
    page.wait_for_url("**asked=**")
    listed = page.locator(".request-list li")
    assert listed.count() == 2
    assert "Deletion of your data" in listed.nth(0).inner_text()
    assert "received" in listed.nth(0).inner_text()
    clean(page)
    shoot(page, f"requests-{width}")
    if width == "desktop":  # the README's picture: the requests, at a small desktop size
        page.set_viewport_size({"width": 1024, "height": 700})
        page.evaluate("() => document.getElementById('requests').scrollIntoView()")
        page.screenshot(path=str(SCREENSHOTS / "readme-requests.png"))
    requests = client.get("/v1/requests", headers=admin).get_json()["requests"]
    assert sorted((q["type"], q["source"]) for q in requests) == [
        ("access", "preference_page"), ("erasure", "preference_page")]


def test_an_unknown_page_is_an_html_page_in_the_browsers_language(live_server, page):
    page.set_extra_http_headers({"Accept-Language": "de"})
    response = page.goto(f"{live_server}/pages/preferences/x/y/z")
    assert response.status == 404
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("heading", name="Nicht gefunden").is_visible()
    clean(page)
