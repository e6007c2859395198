"""The preference page over HTTP: every choice drawn, exactly the changed boxes recorded."""

import json
from html import unescape

from consentry.secretstore import get_keys
from consentry.signing import keys_by_kid, verify_document
from tests.pages.conftest import Form, path_of

SWITCHES = ["switch:personalization_off", "switch:sale_sharing_opt_out"]


def open_form(client, path, **headers):
    r = client.get(path, headers=headers)
    assert r.status_code == 200
    return r, Form(r.get_data(as_text=True))


def test_every_choice_is_a_labelled_checkbox_switches_first(client, preference_link, app):
    r, form = open_form(client, preference_link())
    names = list(form.boxes)
    assert names[:2] == SWITCHES
    assert form.label_of("switch:personalization_off") == "Don't personalize for me"
    assert form.label_of("switch:sale_sharing_opt_out") == "Don't sell or share my data"
    for purpose in ("personalization", "marketing", "advertising", "analytics"):
        assert f"purpose:{purpose}" in names
        for category in ("behavioral", "location_precise", "health"):
            name = f"category:{purpose}:{category}"
            if purpose == "advertising" and category == "health":  # not_for advertising
                assert name not in names
                continue
            # each category under its own purpose, after the purpose's toggle
            assert names.index(name) > names.index(f"purpose:{purpose}")
    assert form.label_of("category:personalization:behavioral") == "Activity in our product"
    html = unescape(r.get_data(as_text=True))
    # the standard categories together, the ones that need permission apart
    section = html.split('id="purpose-personalization"')[1].split('class="purpose"')[0]
    standard, permission = section.split("Only with your permission")
    assert "Activity in our product" in standard and "Your precise location" not in standard
    assert "Your precise location" in permission and "Health information" in permission
    # checked when the effective state allows it, and why
    assert form.boxes["category:personalization:behavioral"]["checked"]
    assert not form.boxes["category:personalization:health"]["checked"]
    assert "On: the default for your region." in html
    # reject all and allow all, save, an objection per purpose on legitimate interest
    # (the default jurisdiction: all four), save; then the two requests
    assert html.count('type="submit"') == 10
    assert list(form.buttons) == ["action:reject_all", "action:allow_all",
                                  *(f"object:{p}" for p in ("personalization", "marketing",
                                                            "advertising", "analytics"))]
    assert form.buttons["action:reject_all"] == "Reject all"
    assert form.buttons["action:allow_all"] == "Allow all"
    assert form.buttons["object:marketing"] == "Object to Marketing"
    assert form.hidden["csrf_token"]


def test_saving_records_exactly_the_boxes_changed(client, preference_link, events, gate):
    path = preference_link()
    _, form = open_form(client, path)
    assert gate()["behavioral"] is None  # allowed by default
    data = form.submission(toggle={"category:personalization:behavioral",
                                   "category:marketing:health", "switch:sale_sharing_opt_out"})
    r = client.post(path, data=data)
    assert r.status_code == 303
    recorded = [(e["kind"], e["purpose"], e["category"], e["switch"], e["status"], e["source"])
                for e in events()]
    assert sorted(recorded, key=str) == sorted([
        ("choice", "personalization", "behavioral", None, "denied", "preference_page"),
        ("choice", "marketing", "health", None, "granted", "preference_page"),
        ("switch", None, None, "sale_sharing_opt_out", "on", "preference_page"),
    ], key=str)
    assert len({e["receipt_id"] for e in events()}) == 1  # one write, one receipt
    assert gate()["behavioral"] == "explicit_denial"
    # the page that follows shows the new state and the receipt
    after = client.get(path_of(r.headers["Location"]))
    html = unescape(after.get_data(as_text=True))
    receipt_id = events()[0]["receipt_id"]
    assert "Saved." in html and receipt_id in html
    form = Form(after.get_data(as_text=True))
    assert not form.boxes["category:personalization:behavioral"]["checked"]
    assert form.boxes["category:marketing:health"]["checked"]
    assert form.boxes["switch:sale_sharing_opt_out"]["checked"]
    assert "Off: you turned this off on " in html and "On: you allowed this on " in html
    # reload: still kept
    again = Form(client.get(path).get_data(as_text=True))
    assert not again.boxes["category:personalization:behavioral"]["checked"]


def test_the_receipt_downloads_signed(app, client, preference_link, events):
    path = preference_link()
    _, form = open_form(client, path)
    client.post(path, data=form.submission(toggle={"purpose:analytics"}))
    receipt_id = events()[0]["receipt_id"]
    r = client.get(f"{path}/receipts/{receipt_id}")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Content-Disposition"] == \
        f'attachment; filename="consent-receipt-{receipt_id}.json"'
    receipt = json.loads(r.get_data())
    signature = receipt.pop("signature")
    verify_document(keys_by_kid(get_keys(app).jwks()), receipt, signature)
    assert receipt["collection_method"] == "preference_page"
    assert receipt["choices"][0]["purpose"] == "analytics"
    assert client.get(f"{path}/receipts/not-a-receipt").status_code == 404


def test_anothers_receipt_is_not_found_through_my_link(client, preference_link, events):
    theirs = preference_link("u-other")
    _, form = open_form(client, theirs)
    client.post(theirs, data=form.submission(toggle={"purpose:analytics"}))
    receipt_id = events("u-other")[0]["receipt_id"]
    mine = preference_link()
    r = client.get(f"{mine}/receipts/{receipt_id}")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert receipt_id not in client.get(f"{mine}?receipt={receipt_id}").get_data(as_text=True)


def test_purpose_toggle_and_switches_set_and_undo(client, preference_link, events, gate):
    path = preference_link()
    _, form = open_form(client, path)
    client.post(path, data=form.submission(toggle={"purpose:personalization",
                                                   "switch:personalization_off"}))
    assert gate()["behavioral"] == "personalization_off"
    _, form = open_form(client, path)
    assert form.boxes["switch:personalization_off"]["checked"]
    assert not form.boxes["purpose:personalization"]["checked"]
    client.post(path, data=form.submission(toggle={"switch:personalization_off"}))
    assert gate()["behavioral"] == "purpose_denied"
    assert [(e["switch"], e["status"]) for e in events() if e["kind"] == "switch"] == [
        ("personalization_off", "on"), ("personalization_off", "off")]


def test_nothing_changed_records_nothing(client, preference_link, events):
    path = preference_link()
    _, form = open_form(client, path)
    r = client.post(path, data=form.submission())
    assert r.status_code == 303 and events() == []
    html = unescape(client.get(path_of(r.headers["Location"])).get_data(as_text=True))
    assert "You changed nothing, so nothing was recorded." in html


def test_a_change_made_elsewhere_meanwhile_is_not_undone(client, preference_link, backend,
                                                         gate):
    path = preference_link()
    _, form = open_form(client, path)  # drawn before the change below
    client.put("/v1/subjects/u-42/consents", headers=backend, json={
        "source": "app", "choices": [{"purpose": "personalization", "category": "declared",
                                      "status": "denied"}]})
    client.post(path, data=form.submission(toggle={"category:personalization:behavioral"}))
    assert gate()["declared"] == "explicit_denial"
    assert gate()["behavioral"] == "explicit_denial"


def test_without_a_valid_csrf_token_nothing_changes(client, preference_link, events):
    path, other = preference_link(), preference_link("u-other")
    _, form = open_form(client, path)
    data = form.submission(toggle={"purpose:analytics"})
    missing = {k: v for k, v in data.items() if k != "csrf_token"}
    wrong = {**data, "csrf_token": Form(client.get(other).get_data(as_text=True)
                                        ).hidden["csrf_token"]}
    for bad in (missing, wrong, {**data, "csrf_token": ""}):
        r = client.post(path, data=bad)
        assert r.status_code == 403 and r.mimetype == "text/html"
        assert "Nothing was changed" in r.get_data(as_text=True)
    incomplete = {k: v for k, v in data.items() if k != "shown"}
    assert client.post(path, data=incomplete).status_code == 400
    assert events() == []


def test_global_privacy_control_is_detected_honoured_and_shown(client, preference_link,
                                                               events, gate):
    path = preference_link()
    r, form = open_form(client, path, **{"Sec-GPC": "1"})
    html = unescape(r.get_data(as_text=True))
    assert "Your browser sends Global Privacy Control (GPC). We honour it" in html
    assert form.boxes["switch:sale_sharing_opt_out"] == {
        "checked": True, "disabled": True, "id": "switch-sale_sharing_opt_out"}
    saved = client.post(path, data=form.submission(), headers={"Sec-GPC": "1"})
    assert [(e["switch"], e["source"]) for e in events()] == [("sale_sharing_opt_out", "gpc")]
    assert gate(purpose="advertising")["behavioral"] == "gpc"
    after = unescape(client.get(path_of(saved.headers["Location"]),
                                headers={"Sec-GPC": "1"}).get_data(as_text=True))
    assert "Global Privacy Control honoured" in after
    assert "Save to record it" not in after
    # unchecking the switch while the browser still sends GPC keeps it on
    client.post(path, data=form.submission(toggle={"purpose:analytics"}),
                headers={"Sec-GPC": "1"})
    assert gate(purpose="advertising")["behavioral"] == "gpc"


def test_the_page_speaks_the_links_language_else_the_browsers(client, preference_link):
    r = client.get(preference_link(language="de"), headers={"Accept-Language": "en"})
    assert r.headers["Content-Language"] == "de"
    german = unescape(r.get_data(as_text=True))
    assert '<html lang="de">' in german
    for words in ("Ihre Datenschutzeinstellungen", "Nicht für mich personalisieren",
                  "Meine Daten nicht verkaufen oder weitergeben", "Personalisierung",
                  "Ihre Aktivität in unserem Produkt", "Nur mit Ihrer Erlaubnis",
                  "Zum Inhalt springen", "Meine Auswahl speichern",
                  "An: die Voreinstellung für Ihre Region."):
        assert words in german, words
    assert "Don't personalize" not in german
    browser = unescape(client.get(preference_link(), headers={
        "Accept-Language": "de-AT,de;q=0.9"}).get_data(as_text=True))
    assert "Ihre Datenschutzeinstellungen" in browser
    english = unescape(client.get(preference_link(language="en"), headers={
        "Accept-Language": "de"}).get_data(as_text=True))
    assert "Your privacy choices" in english


def test_recent_explanations_are_listed_with_their_pages(client, preference_link, decide):
    decide()
    decide(subject="u-other")
    html = unescape(client.get(preference_link()).get_data(as_text=True))
    assert "You're seeing Trail running shoes because you viewed running shoes 3 times " \
           "this month." in html
    assert html.count("/pages/explanations/") == 1
    link = html.split('href="/pages/explanations/')[1].split('"')[0]
    page = client.get(f"/pages/explanations/{link}")
    assert page.status_code == 200 and "Why am I seeing this?" in page.get_data(as_text=True)


def test_reject_all_then_allow_all_from_the_page(client, preference_link, events, gate,
                                                backend):
    grant = client.put("/v1/subjects/u-42/consents", headers=backend, json={
        "source": "api", "jurisdiction": "EU", "choices": [
            {"purpose": "marketing", "channel": "email", "status": "granted"},
            {"purpose": "personalization", "category": "health", "status": "granted"}]})
    assert grant.status_code == 200
    path = preference_link()
    _, form = open_form(client, path)
    before = len(events())
    r = client.post(path, data=form.submission(button="action:reject_all"))
    assert r.status_code == 303
    written = events()[before:]
    assert len({e["receipt_id"] for e in written}) == 1  # one write, one receipt
    assert all((e["kind"], e["category"], e["channel"], e["status"])
               == ("choice", None, None, "denied") for e in written)
    for purpose in ("personalization", "marketing", "advertising", "analytics"):
        assert all(reason is not None for reason in gate(purpose=purpose).values()), purpose
    email = client.get("/v1/subjects/u-42/allowed-signals", headers=backend,
                       query_string={"purpose": "marketing", "channel": "email"}).get_json()
    assert email["allowed"] == []  # the API's email grant is withdrawn too

    _, form = open_form(client, path_of(r.headers["Location"]))
    before = len(events())
    r = client.post(path, data=form.submission(button="action:allow_all"))
    assert r.status_code == 303
    assert not any(e["kind"] == "switch" for e in events()[before:])  # switches untouched
    answer = gate(purpose="marketing")
    assert answer["behavioral"] is None and answer["declared"] is None
    assert answer["health"] == "requires_explicit_consent"  # special: its own tick
    assert answer["location_precise"] == "requires_explicit_consent"
    assert gate(purpose="advertising")["health"] == "not_permitted_for_purpose"
