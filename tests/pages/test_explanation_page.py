"""The "Why am I seeing this?" page over HTTP: reasons in plain words, buttons that act."""

from html import unescape

from tests.pages.conftest import Form, path_of


def test_the_page_shows_the_headline_reasons_and_controls(client, decide, explanation_link):
    decision_id = decide(signals=[
        {"category": "behavioral", "summary": {"en": "viewed running shoes 3 times this month",
                                               "de": "sich diesen Monat dreimal Laufschuhe "
                                                     "angesehen haben"}},
        {"category": "transactional", "summary": {"en": "bought hiking boots",
                                                  "de": "Wanderschuhe gekauft haben"}}])
    r = client.get(explanation_link(decision_id))
    assert r.status_code == 200
    html = unescape(r.get_data(as_text=True))
    assert "<title>Why am I seeing this?" in html
    assert "You're seeing Trail running shoes because you viewed running shoes 3 times this " \
           "month." in html
    assert "<strong>Activity in our product</strong>: viewed running shoes 3 times" in html
    assert "<strong>Your purchases</strong>: bought hiking boots" in html
    form = Form(r.get_data(as_text=True))
    assert form.buttons == {
        "deny_category:behavioral": "Stop using my activity in our product",
        "deny_category:transactional": "Stop using my purchases",
        "personalization_off": "Turn off personalization"}
    # "Review all your choices" opens the person's own page, never the policy's URL
    assert "https://example.com/privacy/choices" not in html
    review = html.split('">Review all your privacy choices</a>')[0].rsplit('href="', 1)[1]
    assert review.startswith("/pages/preferences/")
    assert client.get(review).status_code == 200


def test_pressing_turn_off_personalization_records_it_and_says_so(
        client, decide, explanation_link, events, gate):
    path = explanation_link(decide())
    form = Form(client.get(path).get_data(as_text=True))
    r = client.post(path, data=form.submission(button="personalization_off"))
    assert r.status_code == 303
    assert [(e["switch"], e["status"], e["source"]) for e in events()] == [
        ("personalization_off", "on", "explanation_page")]
    assert gate()["behavioral"] == "personalization_off"
    html = unescape(client.get(path_of(r.headers["Location"])).get_data(as_text=True))
    assert "Done: personalization is off." in html
    assert events()[0]["receipt_id"] in html


def test_pressing_stop_using_denies_that_category_for_that_purpose(
        client, decide, explanation_link, events, gate):
    path = explanation_link(decide())
    form = Form(client.get(path).get_data(as_text=True))
    r = client.post(path, data=form.submission(button="deny_category:behavioral"))
    assert [(e["purpose"], e["category"], e["status"], e["source"]) for e in events()] == [
        ("personalization", "behavioral", "denied", "explanation_page")]
    assert gate()["behavioral"] == "explicit_denial"
    html = unescape(client.get(path_of(r.headers["Location"])).get_data(as_text=True))
    assert "Done: we no longer use “Activity in our product” for “Personalization”." in html
    receipt = client.get(f"{path}/receipts/{events()[0]['receipt_id']}")
    assert receipt.status_code == 200 and receipt.get_json()["collection_method"] == \
        "explanation_page"


def test_in_german(client, decide, explanation_link):
    path = explanation_link(decide(), language="de")
    html = unescape(client.get(path).get_data(as_text=True))
    assert "Warum sehe ich das?" in html
    assert "Sie sehen Trail-Laufschuhe, weil Sie sich diesen Monat dreimal Laufschuhe " \
           "angesehen haben." in html
    assert "Personalisierung ausschalten" in html
    form = Form(client.get(path).get_data(as_text=True))
    r = client.post(path, data=form.submission(button="deny_category:behavioral"))
    done = unescape(client.get(path_of(r.headers["Location"])).get_data(as_text=True))
    assert "Erledigt: Wir verwenden „Ihre Aktivität in unserem Produkt“ nicht mehr für " \
           "„Personalisierung“." in done


def test_no_button_a_made_up_one_or_no_csrf_changes_nothing(
        client, decide, explanation_link, events):
    path = explanation_link(decide())
    form = Form(client.get(path).get_data(as_text=True))
    assert client.post(path, data=form.submission()).status_code == 400
    assert client.post(path, data=form.submission(button="deny_category:health")
                       ).status_code == 400
    assert client.post(path, data={"personalization_off": "1"}).status_code == 403
    assert events() == []


def test_a_decision_gone_is_not_found(app, client, decide, explanation_link):
    from sqlalchemy import delete

    from consent.models import Decision
    from consentry.db import get_db
    decision_id = decide()
    path = explanation_link(decision_id)
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(delete(Decision).where(Decision.decision_id == decision_id))
    r = client.get(path)
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "u-42" not in r.get_data(as_text=True)


def test_the_page_names_the_recipe_the_decision_cited(client, make_key, decide,
                                                      explanation_link):
    lead = make_key("recipes:write")
    assert client.put("/v1/recipes/running-fans", headers=lead, json={
        "name": "Running fans see running gear", "purpose": "personalization",
        "channels": ["web"], "surface": "homepage_hero",
        "trigger": "viewed a category 3+ times in 30 days", "audience": "returning visitors",
        "action": "show the category's top items", "categories": ["behavioral"],
        "success_metric": "click-through on the hero", "owner": "growth-team",
        "status": "live"}).status_code == 200
    decision_id = decide(recipe_id="running-fans")
    html = unescape(client.get(explanation_link(decision_id)).get_data(as_text=True))
    assert "What we show under this rule: <q>Running fans see running gear</q>: show the " \
        "category's top items" in html
    # on a German page, the recipe's English words are quoted and keep their language
    german = unescape(client.get(explanation_link(decision_id, language="de"))
                      .get_data(as_text=True))
    assert 'Was wir nach dieser Regel zeigen: <q><span lang="en">Running fans see running ' \
        'gear</span></q>: <span lang="en">show the category\'s top items</span>' in german
