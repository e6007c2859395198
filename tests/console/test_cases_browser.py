"""A privacy officer answers an erasure request for a person under a legal hold, in a real
browser: the erasure waits, the hold is lifted through its confirmation, the erasure runs."""

from __future__ import annotations

import pytest

from tests.console.conftest import new_key, run_retention, write_consent
from tests.console.test_browser import _accessible, _expect, sign_in

pytestmark = pytest.mark.browser


def test_an_erasure_request_waits_for_a_hold_and_runs_once_it_is_lifted_by_confirmation(
        app, live_server, page, admin):
    expect = _expect()
    api = app.test_client()
    write_consent(api, admin, "hana")
    hold = api.post("/v1/retention/holds", headers=admin,
                    json={"subject_id": "hana", "reason": "litigation 2026-044"}).get_json()
    request_id = api.post("/v1/requests", headers=admin, json={
        "subject_id": "hana", "type": "erasure", "jurisdiction": "EU",
        "source": "email"}).get_json()["request_id"]
    key, _ = new_key(app, "requests:read", "requests:write", "erasure:write",
                     "retention:admin", "preferences:read", name="privacy-officer")
    sign_in(page, live_server, key, f"/console/requests/{request_id}")

    page.get_by_label("Move to").select_option("completed")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The request is completed")).to_be_visible()
    run_retention(app)  # the scheduler takes the erasure: the hold makes it wait
    page.reload()
    expect(page.get_by_text("The erasure waits: a legal hold is on this person")).to_be_visible()
    _accessible(page, "request-erasure-held")

    # From the person's page (found with the search box) to the hold's confirmation.
    page.get_by_label("Find a person").fill("hana")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("hana")
    page.goto(f"{live_server}/console/retention")
    page.get_by_role("link", name="Lift… the hold on hana").click()
    expect(page.get_by_text("will then be carried out")).to_be_visible()
    _accessible(page, "confirm-lift")
    page.get_by_role("button", name="Lift the hold and release the erasure").click()
    expect(page.get_by_text("The hold is lifted.")).to_be_visible()
    run_retention(app)
    page.goto(f"{live_server}/console/requests/{request_id}")
    expect(page.get_by_text("The person's data is erased and the certificate signed.")
           ).to_be_visible()
    active = api.get("/v1/retention/holds", headers=admin).get_json()["holds"]
    assert hold["id"] not in [h["id"] for h in active]
    assert page.locator('meta[http-equiv="refresh"]').count() == 0


def test_a_viewer_is_offered_no_erasure_and_is_refused_it(app, live_server, page, admin):
    expect = _expect()
    write_consent(app.test_client(), admin, "ivan")
    key, _ = new_key(app, "preferences:read", "audit:read", "requests:read", name="viewer")
    sign_in(page, live_server, key, "/console/subjects/ivan")
    expect(page.get_by_role("heading", level=1)).to_contain_text("ivan")
    expect(page.get_by_role("button", name="Erase this person…")).to_have_count(0)
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    answer = page.request.post(f"{live_server}/console/subjects/ivan/erasure", form={
        "csrf_token": token, "confirm": "1", "confirm_subject_id": "ivan"})
    assert answer.status == 403
    assert app.test_client().get("/v1/erasures", headers=admin).get_json()["erasures"] == []
