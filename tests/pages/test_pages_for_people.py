"""The pages for people, second round, over HTTP (issue 23): every choice visible and
withdrawable, the law shown, requests from the link, receipts and errors as pages, one
language per page. The browser tests (test_people_browser.py) do the same as a person."""

import re
from html import unescape

from audit.jobs import run_export_queue
from consentry.secretstore import get_keys
from consentry.signing import keys_by_kid, verify_document
from tests.pages.conftest import Form, path_of

PURPOSES = ("personalization", "marketing", "advertising", "analytics")
CHANNELS = ("web", "app", "email", "push", "sms")


def page(client, path, **headers):
    r = client.get(path, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return unescape(r.get_data(as_text=True)), Form(r.get_data(as_text=True))


def put(client, backend, subject="u-42", jurisdiction="EU", **choice):
    r = client.put(f"/v1/subjects/{subject}/consents", headers=backend, json={
        "source": "shop", "jurisdiction": jurisdiction, "choices": [choice]})
    assert r.status_code == 200, r.get_json()


def allowed(client, backend, purpose, channel, subject="u-42") -> list[str]:
    return client.get(f"/v1/subjects/{subject}/allowed-signals", headers=backend,
                      query_string={"purpose": purpose, "channel": channel}).get_json()["allowed"]


def children_follow_their_purpose(form: Form) -> None:
    """A child box is never checked while its purpose's box is not."""
    for name, box in form.boxes.items():
        kind, _, rest = name.partition(":")
        if kind in ("category", "channel") and box["checked"]:
            assert form.boxes[f"purpose:{rest.split(':')[0]}"]["checked"], name


def test_an_api_granted_email_marketing_consent_shows_and_unticking_marketing_ends_it(
        client, preference_link, backend, events):
    put(client, backend, purpose="marketing", channel="email", status="granted")
    assert "declared" in allowed(client, backend, "marketing", "email")
    assert allowed(client, backend, "marketing", "web") == []  # EU: opt-in
    path = preference_link()
    html, form = page(client, path)
    # marketing is chosen per channel: a row for each, the email one on
    assert [n for n in form.boxes if n.startswith("channel:marketing:")] == [
        f"channel:marketing:{c}" for c in CHANNELS]
    assert form.boxes["channel:marketing:email"]["checked"]
    assert not form.boxes["channel:marketing:web"]["checked"]
    # marketing is partly on, so its box is checked and says so
    assert form.boxes["purpose:marketing"]["checked"]
    assert "Partly on: you allowed some of it" in html
    children_follow_their_purpose(form)
    r = client.post(path, data=form.submission(toggle={"purpose:marketing"}))
    assert r.status_code == 303
    assert [(e["purpose"], e["channel"], e["status"]) for e in events()][-1] == (
        "marketing", None, "denied")
    assert allowed(client, backend, "marketing", "email") == []
    after, form = page(client, path_of(r.headers["Location"]))
    assert not form.boxes["purpose:marketing"]["checked"]
    assert not form.boxes["channel:marketing:email"]["checked"]
    assert "Off: you turned off Marketing on " in after
    children_follow_their_purpose(form)


def test_a_channel_box_records_a_choice_for_that_channel(client, preference_link, backend,
                                                         events):
    path = preference_link()
    _, form = page(client, path)  # the default jurisdiction: marketing on by default
    assert all(form.boxes[f"channel:marketing:{c}"]["checked"] for c in CHANNELS)
    assert not any(n.startswith("channel:personalization:") for n in form.boxes)
    client.post(path, data=form.submission(toggle={"channel:marketing:sms"}))
    assert [(e["purpose"], e["category"], e["channel"], e["status"]) for e in events()] == [
        ("marketing", None, "sms", "denied")]
    assert allowed(client, backend, "marketing", "sms") == []
    assert "declared" in allowed(client, backend, "marketing", "email")
    # a purpose not chosen per channel shows a channel only where the state differs there
    put(client, backend, jurisdiction="DEFAULT", purpose="personalization", channel="app",
        status="denied")
    _, form = page(client, path)
    assert [n for n in form.boxes if n.startswith("channel:personalization:")] == [
        "channel:personalization:app"]
    assert not form.boxes["channel:personalization:app"]["checked"]
    assert form.boxes["purpose:personalization"]["checked"]


def test_a_category_not_for_a_purpose_is_not_offered_and_not_recorded(
        client, preference_link, events):
    path = preference_link()
    html, form = page(client, path)
    assert "category:advertising:health" not in form.boxes
    assert "category:advertising:financial" not in form.boxes
    assert "category:personalization:health" in form.boxes
    data = form.submission()
    data["category:advertising:health"] = "1"  # a made-up box
    r = client.post(path, data=data)
    assert "saved=nothing" in r.headers["Location"] and events() == []


def test_each_purpose_says_its_legal_basis_and_a_legitimate_interest_can_be_objected_to(
        client, preference_link, backend, events, gate):
    put(client, backend, purpose="analytics", status="granted")  # an EU subject
    path = preference_link()
    html, form = page(client, path)
    sections = {p: html.split(f'name="purpose:{p}"')[1].split('class="purpose"')[0]
                for p in PURPOSES}
    for purpose in ("marketing", "advertising"):
        assert "We ask for your consent." in sections[purpose]
        assert f"object:{purpose}" not in form.buttons
    for purpose in ("personalization", "analytics"):
        assert "We rely on our legitimate interest; you can object." in sections[purpose]
        assert f"object:{purpose}" in form.buttons
    assert form.buttons["object:personalization"] == "Object to Personalization"
    # who receives it: name, role, country
    assert "Example Mailer Ltd.</strong>: processor, acting on our behalf; country: IE" \
        in sections["marketing"]
    assert "Example Ad Exchange Inc.</strong>: third party, acting for itself; country: US; " \
        "transfer safeguard: Standard contractual clauses" in sections["advertising"]
    assert "<details>" in sections["marketing"] and "<summary>" in sections["marketing"]

    r = client.post(path, data=form.submission(button="object:personalization"))
    assert [(e["purpose"], e["category"], e["status"]) for e in events()][-1] == (
        "personalization", None, "denied")
    assert gate()["behavioral"] == "purpose_denied"
    count = len(events())
    html, form = page(client, path_of(r.headers["Location"]))
    assert "You objected: it is off." in html
    assert "object:personalization" not in form.buttons
    # a stale page's Object again, or Object for a purpose on consent: nothing recorded
    for button in ("object:personalization", "object:marketing"):
        again = client.post(path, data=form.submission(button=button))
        assert "saved=nothing" in again.headers["Location"], button
    assert len(events()) == count


def test_the_first_save_comes_before_the_first_purpose(client, preference_link):
    html, _ = page(client, preference_link())
    first_save = html.index(">Save my choices</button>")
    assert first_save < html.index('name="switch:personalization_off"')
    assert html.count(">Save my choices</button>") == 2
    # what can take focus before it: the skip link and the two bulk buttons
    before = html[:first_save]
    focusable = re.findall(r"<a |<button|<input(?![^>]*hidden)|<summary", before)
    assert len(focusable) < 12


def test_a_copy_and_a_deletion_asked_for_from_the_page(app, client, preference_link, admin):
    path = preference_link()
    _, form = page(client, path)
    html = client.get(path).get_data(as_text=True)
    assert 'name="request:access"' in html and 'name="request:erasure"' in html
    csrf = form.hidden["csrf_token"]
    r = client.post(f"{path}/requests", data={"csrf_token": csrf, "request:access": "1"})
    assert r.status_code == 303
    listed = client.get("/v1/requests", headers=admin).get_json()["requests"]
    assert [(q["type"], q["source"], q["subject_id"]) for q in listed] == [
        ("access", "preference_page", "u-42")]
    shown, _ = page(client, path_of(r.headers["Location"]))
    assert "Your request was received. We answer by " in shown
    assert "Copy of your data</strong>: Status: <span class=\"badge\">received</span>" in shown
    due = listed[0]["due_at"][:10]
    assert f"answer due by {int(due[8:])} " in shown
    # asking again while one is open makes no second request
    client.post(f"{path}/requests", data={"csrf_token": csrf, "request:access": "1"})
    assert len(client.get("/v1/requests", headers=admin).get_json()["requests"]) == 1

    # erasure: a confirmation first, which records nothing
    confirm = client.post(f"{path}/requests", data={"csrf_token": csrf, "request:erasure": "1"})
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert "Delete your data?" in text and 'name="confirm:erasure"' in text
    assert len(client.get("/v1/requests", headers=admin).get_json()["requests"]) == 1
    done = client.post(f"{path}/requests", data={"csrf_token": csrf, "confirm:erasure": "1"})
    assert done.status_code == 303
    types = sorted(q["type"] for q in client.get("/v1/requests",
                                                 headers=admin).get_json()["requests"])
    assert types == ["access", "erasure"]
    # without the CSRF token, nothing
    bad = client.post(f"{path}/requests", data={"confirm:erasure": "1"})
    assert bad.status_code == 403 and "Nothing was changed" in bad.get_data(as_text=True)

    # completed: the page offers the bundle and says what it holds
    rid = next(q["request_id"] for q in listed if q["type"] == "access")
    assert client.post(f"/v1/requests/{rid}/transition", headers=admin,
                       json={"to": "completed"}).status_code == 200
    shown, _ = page(client, path)
    assert "Your copy is being prepared." in shown
    assert run_export_queue(app, "test") == 1
    shown, _ = page(client, path)
    assert "Download your data (zip)" in shown and "entries in our audit log" in shown
    bundle = re.search(r'href="([^"]+/bundle)"', shown).group(1)
    zipped = client.get(bundle)
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    assert zipped.data[:2] == b"PK"
    zipped.close()


def test_another_subjects_bundle_is_not_found_through_my_link(app, client, preference_link,
                                                              admin):
    mine, theirs = preference_link("u-1"), preference_link("u-2")
    _, form = page(client, theirs)
    client.post(f"{theirs}/requests", data={"csrf_token": form.hidden["csrf_token"],
                                            "request:access": "1"})
    rid = client.get("/v1/requests", headers=admin).get_json()["requests"][0]["request_id"]
    client.post(f"/v1/requests/{rid}/transition", headers=admin, json={"to": "completed"})
    run_export_queue(app, "test")
    own = client.get(f"{theirs}/requests/{rid}/bundle")
    assert own.status_code == 200 and own.data[:2] == b"PK"
    own.close()
    r = client.get(f"{mine}/requests/{rid}/bundle", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "u-2" not in r.get_data(as_text=True)


def test_a_receipt_is_a_page_to_a_browser_and_signed_json_otherwise(
        app, client, preference_link, events):
    path = preference_link()
    _, form = page(client, path)
    client.post(path, data=form.submission(toggle={"channel:marketing:email"}))
    receipt_id = events()[0]["receipt_id"]
    url = f"{path}/receipts/{receipt_id}"
    r = client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = unescape(r.get_data(as_text=True))
    assert "<h1>Your receipt</h1>" in html
    assert "Marketing by Email: turned off" in html
    with app.app_context():
        kid = get_keys().jwks()["keys"][0]["kid"]
    assert f"signed with the Ed25519 key {kid}" in html
    assert f'href="{url}?format=json"' in html and 'href="/.well-known/consentry-keys"' in html
    assert "u-42" not in html.split("<main")[1].split("Receipt number")[0]
    for headers, query in (({}, ""), ({"Accept": "application/json"}, ""),
                           ({"Accept": "text/html"}, "?format=json")):
        signed = client.get(url + query, headers=headers)
        assert signed.mimetype == "application/json", (headers, query)
        body = signed.get_json()
        signature = body.pop("signature")
        with app.app_context():
            verify_document(keys_by_kid(get_keys().jwks()), body, signature)  # raises if not


def test_unknown_paths_and_errors_under_pages_are_html_in_the_browsers_language(
        client, preference_link):
    r = client.get("/pages/nothing/here", headers={"Accept": "text/html",
                                                   "Accept-Language": "de"})
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "Nicht gefunden" in r.get_data(as_text=True)
    assert '<html lang="de">' in r.get_data(as_text=True)
    path = preference_link(language="de")
    missing = client.get(f"{path}/receipts/no-such-receipt", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "Nicht gefunden" in missing.get_data(as_text=True)
    assert "u-42" not in missing.get_data(as_text=True)
    extra = client.post(f"{path}/what", headers={"Accept": "text/html"})
    assert extra.status_code == 404 and extra.mimetype == "text/html"


def test_the_explanation_page_knows_the_present_and_a_control_in_effect_writes_nothing(
        client, decide, explanation_link, events):
    decision_id = decide()
    path = explanation_link(decision_id)
    html, form = page(client, path)
    assert "Still on: we may use this now." in html
    r = client.post(path, data={**form.hidden, "deny_category:behavioral": "1"})
    assert r.status_code == 303
    assert len(events()) == 1
    html, form = page(client, path_of(r.headers["Location"]))
    assert "Off: you turned this off on " in html
    assert 'id="deny_category-behavioral-done">Already done.' in html
    again = client.post(path, data={**form.hidden, "deny_category:behavioral": "1"})
    assert again.status_code == 303 and "saved=nothing" in again.headers["Location"]
    assert len(events()) == 1  # no event, no receipt
    shown, _ = page(client, path_of(again.headers["Location"]))
    assert "This was already in effect, so nothing was recorded." in shown
    client.post(path, data={**form.hidden, "personalization_off": "1"})
    client.post(path, data={**form.hidden, "personalization_off": "1"})
    assert len(events()) == 2
    assert len({e["receipt_id"] for e in events()}) == 2


def test_a_german_page_marks_the_engines_english_words(client, decide, explanation_link,
                                                       preference_link):
    decision_id = decide(item={"id": "sku-1", "label": "Trail running shoes"}, signals=[
        {"category": "behavioral", "summary": "viewed running shoes 3 times"},
        {"category": "transactional", "summary": {"en": "bought boots",
                                                  "de": "Stiefel gekauft haben"}}])
    html, _ = page(client, explanation_link(decision_id, language="de"))
    assert '<html lang="de">' in html
    # the English name is quoted with its own language; no English after "weil Sie"
    assert 'Sie sehen „<span lang="en">Trail running shoes</span>“' in html
    assert "weil Sie viewed" not in html
    assert ('<strong>Ihre Aktivität in unserem Produkt</strong>: <span lang="en">viewed '
            'running shoes 3 times</span>') in html or \
        ': <span lang="en">viewed running shoes 3 times</span>' in html
    assert ": Stiefel gekauft haben" in html  # sent in German: used, unmarked
    # the preference page in German: channel names the policy gives only in English
    pref, _ = page(client, preference_link(language="de"))
    assert '<html lang="de">' in pref
    assert '<label for="channel-marketing-email"><span lang="en">Email</span></label>' in pref
    assert "Wir bitten um Ihre Einwilligung." in pref or \
        "Wir stützen uns auf unser berechtigtes Interesse" in pref


LOGO = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" ' \
       b'height="10" fill="#1a5fb4"/></svg>'


def branded_policy(tmp_path, **look):
    import tomli_w

    from consentry.policy import load_policy
    data = {**load_policy().to_dict(), "pages": look}
    (tmp_path / "logo.svg").write_bytes(LOGO)
    path = tmp_path / "policy.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_the_companys_look_brand_accent_and_logo_from_this_origin(tmp_path, make_app,
                                                                   make_key):
    path = branded_policy(tmp_path, brand_name="Example Shop", accent_color="#1A5FB4",
                          logo_file="logo.svg")
    app = make_app(POLICY_FILE=str(path), RECORD_POLICY_ON_START=False)
    client = app.test_client()
    with app.app_context():
        from consentry import auth
        from consentry.db import get_db
        with get_db(app).transaction() as s:
            key = auth.create_key(s, "shop", ["preferences:write", "preferences:read"])
    r = client.post("/v1/subjects/u-42/preference-link", json={},
                    headers={"Authorization": f"Bearer {key}"})
    html = client.get(path_of(r.get_json()["url"])).get_data(as_text=True)
    assert "<title>Your privacy choices · Example Shop</title>" in html
    assert '<link rel="stylesheet" href="/pages/brand.css">' in html
    assert '<img src="/pages/brand/logo" alt="" class="logo">Example Shop' in html
    css = client.get("/pages/brand.css")
    assert css.mimetype == "text/css" and "--accent: #1a5fb4;" in css.get_data(as_text=True)
    logo = client.get("/pages/brand/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/svg+xml"
    assert logo.data == LOGO
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    logo.close()
    page_csp = client.get(path_of(r.get_json()["url"])).headers["Content-Security-Policy"]
    assert "default-src 'none'" in page_csp and "img-src 'self' data:" in page_csp


def test_without_a_look_the_brand_routes_are_html_404s(client):
    for path in ("/pages/brand.css", "/pages/brand/logo"):
        r = client.get(path, headers={"Accept": "text/html"})
        assert r.status_code == 404 and r.mimetype == "text/html"


def test_policy_load_refuses_a_low_contrast_accent_and_a_missing_logo(tmp_path):
    import pytest

    from consentry.policy import PolicyError, contrast_ratio, load_policy
    assert round(contrast_ratio("#767676", "#ffffff"), 2) == 4.54
    assert round(contrast_ratio("#000000", "#ffffff")) == 21
    assert load_policy(branded_policy(tmp_path, accent_color="#767676")).pages.accent_color \
        == "#767676"
    for look, words in (({"accent_color": "#777777"}, "contrast of 4.48:1"),
                        ({"accent_color": "#ffcc00"}, "at least 4.5:1"),
                        ({"accent_color": "blue"}, "expected a colour"),
                        ({"logo_file": "missing.svg"}, "no such file"),
                        ({"logo_file": "policy.toml"}, "must be one of"),
                        ({"brand_name": " "}, "1 to 100 characters"),
                        ({"font": "Comic Sans"}, "pages.font: unknown key")):
        with pytest.raises(PolicyError, match=words):
            load_policy(branded_policy(tmp_path, **look))
