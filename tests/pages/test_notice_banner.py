"""The preference page and privacy notices: the notice linked, a banner asking the person
to review their choices after a material change, and saving that confirms them under it."""

import hashlib
from html import unescape

import pytest

from tests.pages.conftest import Form


@pytest.fixture
def notice(client, admin):
    """Record a version of the default notice."""

    def record(version, material=True):
        r = client.put("/v1/notices/privacy", headers=admin, json={
            "version": version, "url": f"https://example.com/privacy/v{version}",
            "sha256": hashlib.sha256(version.encode()).hexdigest(), "material": material})
        assert r.status_code == 201, r.get_json()

    return record


def consents(client, backend, subject="u-42"):
    return client.get(f"/v1/subjects/{subject}/consents", headers=backend).get_json()


def page(client, path):
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    return unescape(html), Form(html)


def test_without_a_notice_the_page_shows_none(client, preference_link):
    html, form = page(client, preference_link())
    assert 'id="reconsent"' not in html and "privacy notice" not in html
    assert "notice_version" not in form.hidden


def test_the_banner_asks_for_review_and_saving_confirms_every_choice_under_the_new_notice(
        client, preference_link, backend, notice, events):
    notice("1")
    client.put("/v1/subjects/u-42/consents", headers=backend, json={
        "source": "shop", "notice_version": "1", "choices": [
            {"purpose": "marketing", "status": "granted"},
            {"purpose": "personalization", "category": "behavioral", "channel": "email",
             "status": "denied"}]})
    path = preference_link()
    html, form = page(client, path)
    assert 'id="reconsent"' not in html
    assert "our privacy notice (version 1)" in html and form.hidden["notice_version"] == \
        "privacy@1"

    notice("2")
    assert consents(client, backend)["reconsent_needed"] is True
    html, form = page(client, path)
    banner = html.split('id="reconsent"')[1].split("</div>")[0]
    assert "Our privacy notice has changed." in banner
    assert 'href="https://example.com/privacy/v2"' in banner
    assert "Read the new privacy notice (version 2)" in banner
    assert form.hidden["notice_version"] == "privacy@2"

    before = len(events())
    r = client.post(path, data=form.submission())  # nothing changed: confirmed as it stands
    assert r.status_code == 303 and "receipt=" in r.headers["Location"]
    confirmed = events()[before:]
    assert sorted((e["purpose"], e["category"], e["channel"], e["status"],
                   e["notice_version"]) for e in confirmed) == [
        ("marketing", None, None, "granted", "privacy@2"),
        ("personalization", "behavioral", "email", "denied", "privacy@2")]
    assert consents(client, backend)["reconsent_needed"] is False
    html, _ = page(client, path)
    assert 'id="reconsent"' not in html


def test_without_the_banner_an_unchanged_form_records_nothing(client, preference_link,
                                                               backend, notice, events):
    notice("1")
    client.put("/v1/subjects/u-42/consents", headers=backend, json={
        "source": "shop", "notice_version": "privacy@1",
        "choices": [{"purpose": "marketing", "status": "granted"}]})
    path = preference_link()
    _, form = page(client, path)
    before = len(events())
    r = client.post(path, data=form.submission())
    assert "saved=nothing" in r.headers["Location"] and len(events()) == before
    # a change is recorded under the notice the page showed
    client.post(path, data=form.submission(toggle={"purpose:analytics"}))
    assert [e["notice_version"] for e in events()[before:]] == ["privacy@1"]


def test_a_forged_notice_version_in_the_form_is_not_recorded(client, preference_link,
                                                             notice, events):
    notice("1")
    path = preference_link()
    _, form = page(client, path)
    data = {**form.submission(toggle={"purpose:analytics"}), "notice_version": "x" * 5000}
    assert client.post(path, data=data).status_code == 303
    assert [e["notice_version"] for e in events()] == [None]


def test_the_banner_in_german(client, preference_link, backend, notice):
    notice("1")
    client.put("/v1/subjects/u-42/consents", headers=backend, json={
        "source": "shop", "choices": [{"purpose": "marketing", "status": "granted"}]})
    html, _ = page(client, preference_link(language="de"))
    assert "Unsere Datenschutzhinweise haben sich geändert." in html
    assert "Die neuen Datenschutzhinweise lesen (Version 1)" in html
