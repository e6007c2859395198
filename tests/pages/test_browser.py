"""The pages for people in a real browser (Debian's Chromium via Playwright).

Each test opens a link as the person would, acts with mouse and keyboard, and checks
what they would see: the choice kept after a reload, the gate's answer changed, no
serious accessibility violation (axe-core), nothing requested from another origin.
Screenshots of every page at desktop and phone widths go to var/screenshots/.
"""

from urllib.parse import urlsplit

import pytest

from tests.conftest import SCREENSHOTS, serious_accessibility_violations, shoot

pytestmark = pytest.mark.browser


@pytest.fixture
def watched(page, live_server):
    """The page, recording every URL it requests; the test checks they stay on our origin."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    yield page, requested
    origin = urlsplit(live_server)
    foreign = [u for u in requested
               if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != origin.netloc]
    assert foreign == []
    assert requested  # the check saw the page's own requests


def link(client, live_server, backend, path, **body):
    r = client.post(path, json=body, headers=backend, base_url=live_server)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["url"]


def tab_through(page, stop_at: str, nth: int = 1) -> list[str]:
    """Press Tab from the top until `stop_at` is focused (the `nth` time); the names
    focused on the way."""
    # start from the top of the page, wherever focus was
    page.evaluate("() => { document.body.tabIndex = -1; document.body.focus();"
                  " document.body.removeAttribute('tabindex'); }")
    seen = []
    for _ in range(200):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e.getAttribute('name') || e.textContent.trim(); }")
        seen.append(focused)
        if focused == stop_at and seen.count(stop_at) == nth:
            break
    return seen


def open_every_purpose(page) -> None:
    """Open each purpose's row, by keyboard, as a person would: focus its summary, Enter."""
    for summary in page.locator("form.preferences summary").all():
        summary.focus()
        page.keyboard.press("Enter")
    assert page.locator("form.preferences details:not([open])").count() == 0


def clean(page) -> None:
    assert serious_accessibility_violations(page) == []


def readme_shot(page, name: str) -> None:
    """The top of the page at a small desktop size: the README's pictures come from these
    (copied to docs/screenshots/)."""
    size = page.viewport_size
    page.set_viewport_size({"width": 1024, "height": 700})
    page.screenshot(path=str(SCREENSHOTS / f"readme-{name}.png"))
    page.set_viewport_size(size)


def test_preference_page_change_save_reload_and_the_gate_answers(
        client, live_server, backend, watched, gate, decide):
    page, _ = watched
    decide()
    url = link(client, live_server, backend, "/v1/subjects/u-42/preference-link",
               return_url="https://example.com/account")
    response = page.goto(url)
    assert response.status == 200
    assert page.title() == "Your privacy choices · Example Company Ltd."
    clean(page)
    shoot(page, "preference-page")
    readme_shot(page, "preference-page")
    focused = tab_through(page, "Save my choices")
    assert focused[0] == "Skip to content"
    assert len(focused) - 1 < 12  # fewer than 12 tab stops before the first Save
    # every purpose opens to its categories and channels; then every box, in order, by
    # keyboard, and each has a visible label
    open_every_purpose(page)
    boxes = page.locator("form.preferences input[type=checkbox]")
    names = [boxes.nth(i).get_attribute("name") for i in range(boxes.count())]
    focused = tab_through(page, "Save my choices", nth=2)
    assert [n for n in focused if n in names] == names
    for name in names:
        box = page.locator(f"input[name='{name}']")
        assert page.locator(f"label[for='{box.get_attribute('id')}']").is_visible()

    assert gate()["behavioral"] is None
    behavioral = page.get_by_role("checkbox", name="Activity in our product").first
    assert behavioral.is_checked()
    behavioral.uncheck()
    page.get_by_role("button", name="Save my choices").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("status").filter(has_text="Saved.").is_visible()
    assert page.get_by_role("link", name="Download the signed receipt (JSON)").is_visible()
    clean(page)
    shoot(page, "preference-saved")
    readme_shot(page, "preference-saved")
    assert gate()["behavioral"] == "explicit_denial"

    page.goto(url)  # reload from the link
    open_every_purpose(page)
    behavioral = page.get_by_role("checkbox", name="Activity in our product").first
    assert not behavioral.is_checked()
    assert page.get_by_text("Off: you turned this off on").first.is_visible()


def test_preference_page_in_german_on_a_phone(client, live_server, backend, watched):
    page, _ = watched
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(link(client, live_server, backend, "/v1/subjects/u-42/preference-link",
                   language="de"))
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("heading", name="Ihre Datenschutzeinstellungen").is_visible()
    # one column: the purpose's two groups are stacked, not side by side
    groups = page.locator("section.purpose").first.locator("fieldset")
    first, second = groups.nth(0).bounding_box(), groups.nth(1).bounding_box()
    assert second["y"] >= first["y"] + first["height"] - 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    clean(page)
    shoot(page, "preference-page-de")


def test_explanation_page_turn_off_personalization(
        client, live_server, backend, watched, gate, decide):
    page, _ = watched
    decision_id = decide()
    page.goto(link(client, live_server, backend,
                   f"/v1/subjects/u-42/explanations/{decision_id}/link"))
    assert page.title() == "Why am I seeing this? · Example Company Ltd."
    assert page.get_by_text("You're seeing Trail running shoes because you viewed running "
                            "shoes 3 times this month.").is_visible()
    clean(page)
    shoot(page, "explanation-page")
    readme_shot(page, "explanation-page")
    focused = tab_through(page, "personalization_off")
    assert focused[-2:] == ["deny_category:behavioral", "personalization_off"]

    page.get_by_role("button", name="Turn off personalization").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").filter(
        has_text="Done: personalization is off.").is_visible()
    clean(page)
    shoot(page, "explanation-done")
    readme_shot(page, "explanation-done")
    assert gate()["behavioral"] == "personalization_off"


def test_a_refused_link_is_a_plain_403_page(live_server, watched):
    page, _ = watched
    response = page.goto(f"{live_server}/pages/preferences/not-a-valid-token")
    assert response.status == 403
    assert page.get_by_role("heading", name="This link can't be used").is_visible()
    assert page.locator("form").count() == 0
    clean(page)
    shoot(page, "link-refused")
    readme_shot(page, "link-refused")


def test_a_form_posted_without_its_csrf_token_changes_nothing(
        client, live_server, backend, watched, events):
    page, _ = watched
    page.goto(link(client, live_server, backend, "/v1/subjects/u-42/preference-link"))
    page.locator("form.preferences input[name=csrf_token]").evaluate("e => e.remove()")
    page.get_by_role("checkbox", name="Don't personalize for me").check()
    page.get_by_role("button", name="Save my choices").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Nothing was changed").is_visible()
    assert events() == []
