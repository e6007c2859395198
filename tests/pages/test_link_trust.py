"""A link does only what the key that minted it may, dies with that key and with an
erasure of its subject, reads as nothing, starts with the public URL, is rate limited,
and forms refuse NUL (issue 21, items 3, 4, 7, 8, 14, 15)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

import pytest

from consentry import auth
from consentry.db import get_db
from tests.pages.conftest import Form, path_of

NOW = "2026-11-24T15:00:00Z"


def _mint(client, headers, subject="u-42", **body):
    return client.post(f"/v1/subjects/{subject}/preference-link", json=body, headers=headers)


def _key(app, *scopes):
    name = f"k-{uuid.uuid4().hex[:6]}"
    with app.app_context(), get_db(app).transaction() as s:
        return {"Authorization": "Bearer " + auth.create_key(s, name, list(scopes))}, name


def test_a_link_url_reads_as_nothing_about_the_person_the_key_or_the_return_url(
        app, client):
    headers, name = _key(app, "preferences:write", "preferences:read")
    r = _mint(client, headers, subject="alice.person@example", language="de",
              return_url="https://example.com/account/alice")
    assert r.status_code == 201, r.get_json()
    url = unquote(r.get_json()["url"])
    token = url.rsplit("/", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # no dots: no readable JWS parts
    for secret in ("alice", name, "example.com", "preferences:write"):
        assert secret not in url
    import base64
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret in (b"alice", name.encode(), b"example.com"):
        assert secret not in raw
    assert client.get(path_of(url)).status_code == 200


def test_a_preference_link_shows_saves_and_lists_only_what_its_key_may(
        app, client, decide):
    decide()
    reader_writer, _ = _key(app, "preferences:write", "preferences:read")
    path = path_of(_mint(client, reader_writer).get_json()["url"])
    html = client.get(path).get_data(as_text=True)
    assert 'type="submit"' in html
    assert "/pages/explanations/" not in html  # no explanations:read: none listed
    full, _ = _key(app, "preferences:write", "preferences:read", "explanations:read")
    assert "/pages/explanations/" in client.get(
        path_of(_mint(client, full).get_json()["url"])).get_data(as_text=True)
    # A key that could not even show the page cannot mint one.
    writer, _ = _key(app, "preferences:write")
    refused = _mint(client, writer)
    assert refused.status_code == 403 and "could do nothing" in refused.get_json()[
        "error"]["message"]


def test_an_explanation_link_minted_to_read_offers_and_takes_no_write(
        app, client, decide, events):
    reader, _ = _key(app, "explanations:read")
    decision_id = decide()
    r = client.post(f"/v1/subjects/u-42/explanations/{decision_id}/link", json={},
                    headers=reader)
    path = path_of(r.get_json()["url"])
    html = client.get(path).get_data(as_text=True)
    assert 'name="personalization_off"' not in html and "deny_category:" not in html
    from consentry.html import csrf_token
    from consentry.secretstore import get_keys

    token = csrf_token(get_keys(app), path.rsplit("/", 1)[1])  # a valid form, but no scope
    pressed = client.post(path, data={"csrf_token": token, "personalization_off": "1"})
    assert pressed.status_code == 403 and events() == []


def test_a_link_dies_with_its_key_and_with_an_erasure_after_it_was_issued(
        app, client, admin):
    headers, name = _key(app, "preferences:write", "preferences:read")
    path = path_of(_mint(client, headers).get_json()["url"])
    assert client.get(path).status_code == 200
    with app.app_context(), get_db(app).transaction() as s:
        auth.revoke_key(s, name)
    assert client.get(path).status_code == 403

    live, _ = _key(app, "preferences:write", "preferences:read")
    before = path_of(_mint(client, live, subject="erin").get_json()["url"])
    assert client.put("/v1/subjects/erin/consents", headers=admin, json={
        "source": "t", "choices": [{"purpose": "marketing", "status": "granted"}]}
    ).status_code == 200
    client.post("/v1/subjects/erin/erasure", headers=admin, json={"reason": "DSR"})
    from consentry.scheduler import run_leased

    assert run_leased(app, app.extensions["consentry.jobs"]["retention-poll"], "test")
    page = client.get(before)
    assert page.status_code == 403 and "erin" not in page.get_data(as_text=True)
    after = path_of(_mint(client, live, subject="erin").get_json()["url"])
    assert client.get(after).status_code == 200  # a new link, for whoever erin is now


def test_links_start_with_the_public_url_and_a_host_off_the_list_is_refused(make_app):
    app = make_app(PUBLIC_URL="https://consent.example.com",
                   ALLOWED_HOSTS=("consent.example.com",))
    headers, _ = _key(app, "preferences:write", "preferences:read")
    client = app.test_client()
    ok = client.post("/v1/subjects/u-1/preference-link", json={}, headers=headers,
                     base_url="https://consent.example.com")
    assert ok.status_code == 201
    assert ok.get_json()["url"].startswith("https://consent.example.com/pages/preferences/")
    for path in ("/v1/subjects/u-1/preference-link", "/healthz",
                 "/v1/subjects/u-1/allowed-signals?purpose=personalization"):
        refused = client.get(path, headers={**headers, "Host": "evil.example"})
        assert refused.status_code == 400, path
    assert client.post("/v1/subjects/u-1/preference-link", json={}, headers={
        **headers, "Host": "evil.example"}).status_code == 400


def test_page_posts_are_rate_limited_per_link_with_a_429_page_and_nothing_written(
        make_app, decide, events):
    app = make_app(RATE_LIMIT_PER_SECOND=1.0)
    client = app.test_client()
    headers, _ = _key(app, "preferences:write", "preferences:read")
    path = path_of(_mint(client, headers).get_json()["url"])
    form = Form(client.get(path).get_data(as_text=True))
    statuses = []
    data = form.submission(toggle=("switch:personalization_off",))
    for _ in range(4):
        statuses.append(client.post(path, data=data).status_code)
    assert statuses[:2] == [303, 303] and 429 in statuses[2:]
    written = len(events())
    limited = client.post(path, data=data)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "Please wait a moment" in limited.get_data(as_text=True)
    assert len(events()) == written  # nothing written by a limited post


@pytest.mark.parametrize("where", ["value", "name"])
def test_a_nul_in_a_page_form_field_is_a_422_naming_it_and_changes_nothing(
        client, preference_link, events, where):
    path = preference_link()
    form = Form(client.get(path).get_data(as_text=True))
    data = form.submission()
    if where == "value":
        data["csrf_token"] = data["csrf_token"] + "\x00"
        named = "csrf_token"
    else:
        data["purpose:market\x00ing"] = "on"
        named = "purpose:market\\0ing"
    r = client.post(path, data=data)
    assert r.status_code == 422 and named in r.get_data(as_text=True)
    assert events() == []
